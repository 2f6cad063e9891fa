"""Broader words for ImageNet's fine-grained classes, so people can search for "cat" and "drink"
and not only for "tabby" and "espresso". Hand-made from the ImageNet-1k class list (indices in
``models/imagenet_classes.txt``); a class may belong to several groups."""

from __future__ import annotations

from collections.abc import Iterable


def _r(*spans: tuple[int, int] | int) -> frozenset[int]:
    out: set[int] = set()
    for span in spans:
        if isinstance(span, int):
            out.add(span)
        else:
            out.update(range(span[0], span[1] + 1))
    return frozenset(out)


DOGS = _r((151, 268))
DOMESTIC_CATS = _r((281, 285))
BIRDS = _r((7, 24), (80, 100), (127, 146))
FISH = _r((0, 6), (389, 397))
ANIMALS = _r((0, 397))
CARS = _r(407, 436, 468, 511, 609, 627, 656, 661, 705, 717, 751, 817)
LAND_VEHICLES = CARS | _r(444, 466, 547, 555, 565, 569, 573, 575, 586, 603, 612, 654, 665, 670,
                           671, 675, 690, 734, 757, 779, 803, 820, 829, 864, 866, 867, 870, 874,
                           880)
BOATS = _r(403, 472, 484, 510, 554, 576, 625, 628, 724, 780, 814, 833, 871, 914)
AIRCRAFT = _r(404, 405, 895, 908)
ROCKETS = _r(657, 744, 812)
COFFEE = _r(504, 505, 550, 967)
DRINKS = _r(440, 441, 572, 737, 898, 899, 901, 907, 966, 967, 968, 969)
FOOD = _r((924, 965))

GROUPS: dict[str, frozenset[int]] = {
    "dog": DOGS,
    "cat": DOMESTIC_CATS,
    "pet": DOGS | DOMESTIC_CATS | _r(333, 338),
    "big cat": _r((286, 293)),
    "bird": BIRDS,
    "fish": FISH,
    "reptile": _r((33, 68)),
    "amphibian": _r((25, 32)),
    "insect": _r((300, 326)),
    "butterfly": _r((321, 326)),
    "spider": _r((72, 77)),
    "primate": _r((365, 384)),
    "horse": _r(339, 603),
    "bear": _r((294, 297)),
    "animal": ANIMALS,
    "car": CARS,
    "vehicle": LAND_VEHICLES | BOATS | AIRCRAFT,
    "boat": BOATS,
    "aircraft": AIRCRAFT,
    "rocket": ROCKETS,
    "space": _r(812),
    "coffee": COFFEE,
    "drink": DRINKS,
    "cup": _r(504, 968),
    "food": FOOD,
    "fruit": _r((948, 957)),
    "vegetable": _r((936, 946)),
    "dessert": _r(927, 928, 929),
    "musical instrument": _r(401, 402, 420, 432, 486, 513, 541, 546, 558, 566, 577, 579, 593,
                             594, 641, 642, 683, 684, 687, 699, 776, 822, 875, 889),
    "building": _r(410, 415, 424, 425, 449, 454, 467, 483, 497, 498, 500, 509, 538, 580, 582,
                   663, 668, 698, 727, 762, 788, 832, 860, 865, 915),
    "landscape": _r((970, 980)),
    "flower": _r(985, 986),
    "plant": _r((984, 990)),
    "mushroom": _r(947, (991, 997)),
    "person": _r(981, 982, 983),
    "clothing": _r(399, 400, 411, 445, 452, 457, 459, 474, 501, 514, 515, 552, 568, 578, 601,
                   608, 610, 614, 617, 638, 639, 652, 655, 689, 697, 735, 775, 834, 841, 842,
                   869),
    "ball": _r(429, 430, 522, 574, 722, 768, 805, 852, 890),
    "camera": _r(732, 759),
    "photography": _r(732, 759, 872, 622),
    "computer": _r(508, 527, 590, 620, 664, 673, 681, 782),
    "furniture": _r(423, 453, 493, 495, 516, 520, 526, 532, 559, 564, 703, 765, 831, 857),
    "kitchenware": _r(469, 499, 503, 505, 521, 544, 567, 618, 647, 659, 809, 813, 828, 849, 909,
                      910, 923),
}


def broader_scores(probabilities: Iterable[float]) -> dict[str, float]:
    """The summed probability of each group."""
    probs = list(probabilities)
    return {name: min(1.0, sum(probs[i] for i in members)) for name, members in GROUPS.items()}
