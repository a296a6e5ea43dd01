"""The two window sizes every browser test looks through."""

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
