"""A small ResNet (He et al. 2016) of BasicBlocks for 28x28 input.

BasicBlock: conv3x3(stride) - BN - ReLU - conv3x3 - BN, plus a shortcut, then ReLU. The
shortcut is the identity when shape is kept, else a projection: conv1x1(stride) - BN.

    stem conv3x3 16 - BN - ReLU (16x28x28)
    stage 1: blocks of 16, stride 1 (16x28x28); stage 2: 32, stride 2 (32x14x14);
    stage 3: 64, stride 2 (64x7x7); global average pool -> num_classes
"""
from .. import nn
from ..nn import functional as F


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(out_channels))
        else:
            self.shortcut = nn.Identity()

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self, num_classes=10, in_channels=1, widths=(16, 32, 64), blocks=(1, 1, 1)):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False),
                                  nn.BatchNorm2d(widths[0]), nn.ReLU())
        layers, c = [], widths[0]
        for i, (width, n) in enumerate(zip(widths, blocks)):
            for j in range(n):
                stride = 2 if i > 0 and j == 0 else 1
                layers.append(BasicBlock(c, width, stride))
                c = width
        self.layers = nn.Sequential(*layers)
        self.pool = nn.GlobalAvgPool2d()
        self.fc = nn.Linear(c, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        return self.fc(self.pool(self.layers(self.stem(x))))


def resnet_small(num_classes=10, in_channels=1, **kwargs):
    return ResNet(num_classes, in_channels, **kwargs)
