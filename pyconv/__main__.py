"""`python -m pyconv <command>`: bench (the default job), train, info, kernels."""
import sys

USAGE = """usage: python -m pyconv <command> [options]

commands:
  bench   validate every enabled backend against the numpy reference, then time conv2d,
          pooling and matmul (forward and forward+backward) and print one table
  train   train a model (LeNet-5, VGG-, ResNet-, Inception-style) on MNIST or Fashion-MNIST
  info    print the version, the backends and why any is disabled (for the C extension:
          why it is missing and how to fix it; --build tries compiling it)
  lab     the lab track: list, new N DIR (a student copy), grade N --path DIR, solution-check
  kernels list every backend's kernel steps (the ladder), the default of each marked '*'

run `python -m pyconv <command> --help` for a command's options"""


def info(argv=()):
    """Version, backends, and for the C extension what state it is in and how to fix it;
    `--build` also tries to compile it in a temporary folder to show the compiler's error."""
    import warnings

    import pyconv
    from ._diagnose import diagnose_c_extension
    if any(a in ("-h", "--help") for a in argv):
        print("usage: python -m pyconv info [--build]\n\n  --build  try compiling the C extension in a "
              "temporary folder and show the compiler's error if it fails")
        return 0
    unknown = [a for a in argv if a != "--build"]
    if unknown:
        print(f"python -m pyconv info: error: unknown option(s) {' '.join(unknown)}", file=sys.stderr)
        return 2
    print(f"pyconv {pyconv.__version__}")
    with warnings.catch_warnings():  # the fallback warning is what the lines below explain
        warnings.simplefilter("ignore", RuntimeWarning)
        print(f"active CPU backend: {pyconv.get_backend()}")
    for name, status in pyconv.available_backends().items():
        print(f"  {name:<6} {status}")
    c = diagnose_c_extension(build="--build" in argv)
    if c["state"] == "built":
        from .backends import c_omp
        print(f"C extension: built ({c_omp.build_info()})")
    else:
        print(f"C extension: {c['state']}: {c['reason']}")
        print(f"  fix: {c['fix']}")
    return 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0
    command, rest = argv[0], argv[1:]
    if command == "bench":
        from .bench import main as bench
        return bench(rest)
    if command == "train":
        from .train import main as train
        return train(rest)
    if command == "info":
        return info(rest)
    if command == "lab":
        from .lab import main as lab
        return lab(rest)
    if command == "kernels":
        import pyconv
        print(pyconv.kernels.table())
        return 0
    print(f"unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
