"""A small Inception-style net (Szegedy et al. 2015, GoogLeNet).

An Inception module runs four branches in parallel on the same input and concatenates their
outputs along channels: 1x1 conv; 1x1 reduce then 3x3; 1x1 reduce then 5x5; 3x3 max pool
(stride 1) then 1x1 projection. Every conv is followed by BatchNorm and ReLU.

    stem conv3x3 32 (32x28x28) -> pool (14x14) -> Inception -> 64 ch -> Inception -> 96 ch
    -> pool (7x7) -> Inception -> 128 ch -> global average pool -> num_classes
"""
from .. import nn
from ..ops.shape import concat


def conv_bn(c_in, c_out, k):
    return nn.Sequential(nn.Conv2d(c_in, c_out, k, padding="same", bias=False), nn.BatchNorm2d(c_out), nn.ReLU())


class InceptionModule(nn.Module):
    def __init__(self, in_channels, c1, c3_reduce, c3, c5_reduce, c5, pool_proj):
        super().__init__()
        self.branch1 = conv_bn(in_channels, c1, 1)
        self.branch3 = nn.Sequential(conv_bn(in_channels, c3_reduce, 1), conv_bn(c3_reduce, c3, 3))
        self.branch5 = nn.Sequential(conv_bn(in_channels, c5_reduce, 1), conv_bn(c5_reduce, c5, 5))
        self.branch_pool = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), conv_bn(in_channels, pool_proj, 1))
        self.out_channels = c1 + c3 + c5 + pool_proj

    def forward(self, x):
        return concat([self.branch1(x), self.branch3(x), self.branch5(x), self.branch_pool(x)], axis=1)


class InceptionNet(nn.Module):
    def __init__(self, num_classes=10, in_channels=1):
        super().__init__()
        self.stem = nn.Sequential(conv_bn(in_channels, 32, 3), nn.MaxPool2d(2))
        a = InceptionModule(32, 16, 16, 24, 8, 12, 12)          # 64 channels
        b = InceptionModule(a.out_channels, 24, 24, 40, 8, 16, 16)  # 96
        c = InceptionModule(b.out_channels, 32, 32, 48, 12, 24, 24)  # 128
        self.blocks = nn.Sequential(a, b, nn.MaxPool2d(2), c)
        self.pool = nn.GlobalAvgPool2d()
        self.fc = nn.Linear(c.out_channels, num_classes)

    def forward(self, x):
        return self.fc(self.pool(self.blocks(self.stem(x))))


def inception_small(num_classes=10, in_channels=1):
    return InceptionNet(num_classes, in_channels)
