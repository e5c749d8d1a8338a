"""LeNet-5 (LeCun, Bottou, Bengio, Haffner 1998), adapted to 28x28 input.

The original takes 32x32 images; padding the first convolution by 2 gives the same 28x28 C1 maps
from MNIST's 28x28 digits. Modern choices replace the original's scaled tanh, trainable
subsampling and RBF output: ReLU (or tanh), max pooling and a linear output of logits.

    input 1x28x28 -> C1 conv 5x5 pad 2, 6 maps (6x28x28) -> S2 pool 2 (6x14x14)
    -> C3 conv 5x5, 16 maps (16x10x10) -> S4 pool 2 (16x5x5) -> F5 120 -> F6 84 -> output 10
"""
from .. import nn


class LeNet5(nn.Module):
    def __init__(self, num_classes=10, in_channels=1, activation="relu", pool="max"):
        super().__init__()
        act = {"relu": nn.ReLU, "tanh": nn.Tanh}[activation]
        pool_layer = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}[pool]
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5, padding=2), act(), pool_layer(2),
            nn.Conv2d(6, 16, 5), act(), pool_layer(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120), act(),
            nn.Linear(120, 84), act(),
            nn.Linear(84, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.features(x))


def lenet5(num_classes=10, in_channels=1, activation="relu", pool="max"):
    return LeNet5(num_classes, in_channels, activation, pool)
