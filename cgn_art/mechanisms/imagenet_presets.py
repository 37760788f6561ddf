"""ImageNet classes that work well for each mechanism of the ImageNet CGN.

These are the CGN authors' curated lists (``MASKS``, ``FOREGROUND`` and ``BACKGROUNDS`` in
imagenet/generate_data.py of their code, used for the "best_classes" sampling mode): classes whose
shapes make clean masks, whose textures fill a foreground well, and whose scenes make backgrounds.
The mixer offers them first and the dance draws its default classes from them.
"""
from __future__ import annotations

SHAPES = (9, 18, 22, 35, 56, 63, 96, 97, 119, 207, 225, 260, 275, 323, 330, 350, 370, 403, 411,
          414, 427, 438, 439, 441, 460, 484, 493, 518, 532, 540, 550, 559, 561, 570, 604, 647,
          688, 713, 724, 749, 751, 756, 759, 779, 780, 802, 814, 833, 841, 849, 850, 859, 869,
          872, 873, 874, 876, 880, 881, 883, 894, 897, 898, 900, 907, 930, 933, 945, 947, 949,
          950, 953, 963, 966, 967, 980)
TEXTURES = (12, 15, 18, 25, 54, 66, 72, 130, 145, 207, 251, 267, 271, 275, 293, 323, 385,
            388, 407, 409, 427, 438, 439, 441, 454, 461, 468, 482, 483, 486, 490, 492, 509,
            530, 555, 607, 608, 629, 649, 652, 681, 688, 719, 720, 728, 737, 741, 751, 756,
            779, 800, 810, 850, 852, 854, 869, 881, 907, 911, 930, 936, 937, 938, 941, 949,
            950, 951, 954, 957, 959, 963, 966, 985, 987, 992)
BACKGROUNDS = (7, 9, 20, 30, 35, 46, 50, 65, 72, 93, 96, 97, 119, 133, 147, 337, 350, 353, 354,
               383, 429, 460, 693, 801, 888, 947, 949, 952, 953, 955, 958, 970, 972, 973, 974,
               977, 979, 998)
# The classes of the authors' training sample sheets: a quick, varied look at a model.
SAMPLE_SHEET_CLASSES = (15, 251, 330, 382, 385, 483, 559, 751, 938, 947, 999)

PRESETS = {"shape": SHAPES, "texture": TEXTURES, "background": BACKGROUNDS}


def preset_names(mechanism: str) -> list[tuple[int, str]]:
    """(class index, class name) of a mechanism's preset classes, for pickers and --help."""
    from cgn_art.mechanisms.imagenet import imagenet_class_names

    names = imagenet_class_names()
    return [(c, names[c]) for c in PRESETS[mechanism]]
