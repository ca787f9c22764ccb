"""Tiny image folders written into tmp_path for the image-folder tests."""
from PIL import Image


def make_folder(root, counts, size=(40, 30)):
    """root/<class>/<n>.png|JPG, class k (in `counts` order) filled with gray level 40 * (k + 1)."""
    for k, (name, n) in enumerate(counts.items()):
        (root / name).mkdir(parents=True)
        for i in range(n):
            ext = ".png" if i % 2 else ".JPG"
            Image.new("RGB", size, (40 * (k + 1),) * 3).save(root / name / f"{i:03d}{ext}")
    return root
