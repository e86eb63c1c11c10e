"""The units of measure every company starts with (UN/ECE Recommendation 20 codes).

(category code, French name, English name, [(uom code, French, English, symbol,
numerator, denominator, decimal places, UN/ECE code)]); the first unit of each category
is its reference (factor 1).
"""

from __future__ import annotations

UOM_CATEGORIES: list[tuple[str, str, str, list[tuple[str, str, str, str, int, int, int, str]]]] = [
    ("unit", "Unités", "Units", [
        ("unit", "Unité", "Unit", "u", 1, 1, 0, "C62"),
        ("pair", "Paire", "Pair", "paire", 2, 1, 0, "PR"),
        ("dozen", "Douzaine", "Dozen", "dz", 12, 1, 0, "DZN"),
    ]),
    ("weight", "Poids", "Weight", [
        ("kg", "Kilogramme", "Kilogram", "kg", 1, 1, 3, "KGM"),
        ("g", "Gramme", "Gram", "g", 1, 1000, 0, "GRM"),
        ("t", "Tonne", "Tonne", "t", 1000, 1, 3, "TNE"),
    ]),
    ("length", "Longueur", "Length", [
        ("m", "Mètre", "Metre", "m", 1, 1, 2, "MTR"),
        ("cm", "Centimètre", "Centimetre", "cm", 1, 100, 0, "CMT"),
        ("mm", "Millimètre", "Millimetre", "mm", 1, 1000, 0, "MMT"),
        ("km", "Kilomètre", "Kilometre", "km", 1000, 1, 3, "KMT"),
    ]),
    ("time", "Durée", "Time", [
        ("hour", "Heure", "Hour", "h", 1, 1, 2, "HUR"),
        ("minute", "Minute", "Minute", "min", 1, 60, 0, "MIN"),
    ]),
    ("volume", "Volume", "Volume", [
        ("l", "Litre", "Litre", "L", 1, 1, 3, "LTR"),
        ("ml", "Millilitre", "Millilitre", "mL", 1, 1000, 0, "MLT"),
        ("m3", "Mètre cube", "Cubic metre", "m³", 1000, 1, 3, "MTQ"),
    ]),
    ("area", "Surface", "Area", [
        ("m2", "Mètre carré", "Square metre", "m²", 1, 1, 2, "MTK"),
    ]),
]  # fmt: skip
