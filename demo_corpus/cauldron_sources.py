"""Tiny copies of the six Idefics3 Cauldron sources, in their published layouts.

Each folder under `cauldron/` is shaped like the real download, so a
converter written against it works unchanged on the real data:

- cord_v2/    naver-clova-ix/cord-v2: data/{train,validation,test}-*.parquet with
              `image` (Image feature) and `ground_truth` (JSON string: gt_parse,
              meta, valid_line, roi, repeating_symbol, dontcare). As in CORD, a
              receipt with a single item has `menu` as an object, not a list.
- lnqa/       vikhyatk/lnqa: data/{train,validation}-*.parquet with `image` and
              `qa` (list of {question, answer}).
- sharegpt4o/ OpenGVLab/ShareGPT-4o image captions:
              image_conversations/gpt-4o.jsonl ({id, image, conversations}) and
              the extracted images/ folder the `image` names point into.
- iiw400/     google/imageinwords IIW-400: data.jsonl as the loading script
              yields it (the GitHub fields plus `image/url`), and images_aar/
              holding `<image/key>.jpg`, the layout of DOCCI's AAR archive.
- geo170k/    Luckyjhg/Geo170K: qa_tuning.json and alignment.json (LLaVA-style
              {image, conversations}), images.zip whose `images/` folder the
              `image` paths are relative to, and data/*.parquet, the hub's
              auto-converted splits with the same rows.
- benchmark_images/  pictures standing in for an evaluation set: some are
              near-duplicates of source images above (re-encoded, resized,
              cropped), the rest unrelated; the entry says which.

Index entries: kind "cauldron-source", "subset", and "rows" for data files,
"role": "image" for loose image files, "members" for the zip.
"""

import io
import json
import zipfile
from pathlib import Path

import datasets
import imagehash
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from demo_corpus import images

ROOT = "cauldron"
ZIP_DATE = (2024, 1, 15, 12, 0, 0)

IMAGE_QA_FEATURES = datasets.Features(
    {
        "image": datasets.Image(),
        "qa": [{"question": datasets.Value("string"), "answer": datasets.Value("string")}],
    }
)
CORD_FEATURES = datasets.Features(
    {
        "image": datasets.Image(),
        "ground_truth": datasets.Value("string"),
    }
)
GEO_FEATURES = datasets.Features(
    {
        "image": datasets.Value("string"),
        "conversations": [{"from": datasets.Value("string"), "value": datasets.Value("string")}],
    }
)


# --- shared writers ----------------------------------------------------------


def _write_parquet(path: Path, rows: list[dict], features: datasets.Features) -> None:
    """Parquet with the `huggingface` schema metadata that makes Image columns load as images."""
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(rows, schema=features.arrow_schema)
    pq.write_table(table, path, compression="snappy")


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(row, ensure_ascii=False, sort_keys=True) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _write_json(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def _write_zip(path: Path, members: dict[str, bytes]) -> None:
    """A zip with fixed timestamps and permissions, so its bytes depend only on content."""
    with zipfile.ZipFile(path, "w") as archive:
        for name in sorted(members):
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, members[name])


def _entry(root: Path, path: Path, subset: str, **facts) -> dict:
    return {
        "path": path.relative_to(root).as_posix(),
        "kind": "cauldron-source",
        "subset": subset,
        **facts,
    }


def _image_cell(data: bytes) -> dict:
    return {"bytes": data, "path": None}


# --- cord-v2 -------------------------------------------------------------------

CORD_MENU = [
    ("Nasi Goreng Spesial", 32000),
    ("Es Teh Manis", 8000),
    ("Kopi Susu Gula Aren", 22000),
    ("Mie Ayam Bakso", 27000),
    ("Ayam Bakar Madu", 38000),
    ("Teh Tarik", 15000),
    ("Roti Bakar Coklat", 18000),
    ("Air Mineral", 6000),
    ("Cappuccino", 28000),
    ("Croissant Keju", 21000),
    ("Sate Ayam", 30000),
    ("Jus Alpukat", 20000),
]
CORD_STORES = [
    ["WARUNG SEDERHANA", "Jl. Contoh Raya No. 12"],
    ["KEDAI KOPI SENJA", "Jl. Mawar 5"],
    ["RUMAH MAKAN PADI", "Jl. Melati 88"],
    ["BAKERY PAGI", "Ruko Indah Blok C-3"],
]
CORD_SPLITS = {"train": 6, "validation": 2, "test": 2}


def _rupiah(amount: int) -> str:
    return f"{amount:,}"


def _cord_order(rng: np.random.Generator, single: bool) -> list[dict]:
    count = 1 if single else int(rng.integers(2, 5))
    picks = rng.choice(len(CORD_MENU), size=count, replace=False)
    items = []
    for index in picks:
        name, unit = CORD_MENU[int(index)]
        cnt = int(rng.integers(1, 4))
        item = {"nm": name, "cnt": str(cnt), "price": _rupiah(unit * cnt)}
        if rng.random() < 0.25:
            item["sub"] = {"nm": "Less Sugar" if "Teh" in name or "Kopi" in name else "Extra Pedas"}
        items.append((item, unit * cnt))
    return items


def _cord_lines(items):
    """Receipt lines as cells (text, category, is_key), plus gt_parse."""
    subtotal = sum(amount for _, amount in items)
    tax = subtotal // 10
    total = subtotal + tax
    cash = -(-total // 50000) * 50000
    lines = []
    for group, (item, _) in enumerate(items, start=1):
        lines.append(
            (
                group,
                [
                    (item["nm"], "menu.nm", 0),
                    (item["cnt"], "menu.cnt", 0),
                    (item["price"], "menu.price", 0),
                ],
            )
        )
        if "sub" in item:
            lines.append((group, [("  " + item["sub"]["nm"], "menu.sub_nm", 0)]))
    group = len(items)
    sub_total = {"subtotal_price": _rupiah(subtotal), "tax_price": _rupiah(tax)}
    totals = {
        "total_price": _rupiah(total),
        "cashprice": _rupiah(cash),
        "changeprice": _rupiah(cash - total),
    }
    rows = [
        ("SUBTOTAL", "sub_total.subtotal_price", sub_total["subtotal_price"]),
        ("TAX 10%", "sub_total.tax_price", sub_total["tax_price"]),
        ("TOTAL", "total.total_price", totals["total_price"]),
        ("CASH", "total.cashprice", totals["cashprice"]),
        ("CHANGE", "total.changeprice", totals["changeprice"]),
    ]
    for offset, (key, category, value) in enumerate(rows, start=1):
        lines.append((group + offset, [(key, category, 1), (value, category, 0)]))
    menu = [item for item, _ in items]
    gt_parse = {
        "menu": menu[0] if len(menu) == 1 else menu,
        "sub_total": sub_total,
        "total": totals,
    }
    return lines, gt_parse


def _valid_line(lines, cells, row_base: int) -> list[dict]:
    """CORD's word-level annotation: one entry per (line, category), words with quads."""
    out = []
    for index, ((group, spec), columns) in enumerate(zip(lines, cells, strict=True)):
        by_category: dict[str, list] = {}
        for (_, category, is_key), words in zip(spec, columns, strict=True):
            for text, quad in words:
                by_category.setdefault(category, []).append(
                    {"quad": quad, "is_key": is_key, "row_id": row_base + index, "text": text}
                )
        for category, words in by_category.items():
            out.append(
                {
                    "words": words,
                    "category": category,
                    "group_id": group,
                    "sub_group_id": 1 if category == "menu.sub_nm" else 0,
                }
            )
    return out


def cord_row(seed: int, split: str, image_id: int) -> dict:
    """One CORD row: a rendered receipt and its ground_truth JSON string."""
    rng = np.random.default_rng(seed)
    items = _cord_order(rng, single=(image_id == 1))
    lines, gt_parse = _cord_lines(items)
    header = CORD_STORES[int(rng.integers(len(CORD_STORES)))]
    texts = [[cell[0] for cell in spec] for _, spec in lines]
    rendered = images.receipt(seed, header, texts)
    width, height = rendered.image.size
    ground_truth = {
        "gt_parse": gt_parse,
        "meta": {
            "version": "2.0.0",
            "split": "dev" if split == "validation" else split,
            "image_id": image_id,
            "image_size": {"width": width, "height": height},
        },
        "valid_line": _valid_line(lines, rendered.cells, row_base=2000 + 100 * image_id),
        "roi": rendered.roi,
        "repeating_symbol": [],
        "dontcare": [],
    }
    return {
        "image": _image_cell(images.jpeg_bytes(rendered.image, 90)),
        "ground_truth": json.dumps(ground_truth, ensure_ascii=False),
    }


def write_cord(root: Path, seed: int) -> list[dict]:
    entries = []
    for split, count in CORD_SPLITS.items():
        rows = [
            cord_row(images.derive_seed(seed, "cord", split, i), split, i) for i in range(count)
        ]
        path = root / ROOT / "cord_v2" / "data" / f"{split}-00000-of-00001.parquet"
        _write_parquet(path, rows, CORD_FEATURES)
        entries.append(_entry(root, path, "cord_v2", rows=count, split=split))
    return entries


# --- lnqa ----------------------------------------------------------------------


def _qa_pairs(picture: images.Photo) -> list[dict]:
    """Questions a narrator could answer from the picture, answered from what was drawn."""
    shapes = picture.shapes
    first = shapes[0]
    pairs = [
        {
            "question": f"What color is the {first.kind} in the {first.region}?",
            "answer": f"The {first.kind} in the {first.region} is {first.color}.",
        },
        {
            "question": "How many distinct shapes can you see in the image?",
            "answer": f"There are {len(shapes)} shapes: "
            + ", ".join(s.phrase() for s in shapes)
            + ".",
        },
    ]
    if picture.sign:
        pairs.append(
            {
                "question": "Is there any writing in the picture? What does it say?",
                "answer": f'Yes, there is a small white sign that says "{picture.sign}".',
            }
        )
    else:
        pairs.append(
            {
                "question": "Is there any text visible in the image?",
                "answer": "No, there is no visible text in the image.",
            }
        )
    return pairs


def lnqa_photo(seed: int) -> images.Photo:
    return images.photo(seed, 512, 384)


def write_lnqa(root: Path, seed: int) -> list[dict]:
    entries = []
    for split, count in (("train", 6), ("validation", 2)):
        rows = []
        for i in range(count):
            picture = lnqa_photo(images.derive_seed(seed, "lnqa", split, i))
            rows.append(
                {
                    "image": _image_cell(images.jpeg_bytes(picture.image, 88)),
                    "qa": _qa_pairs(picture),
                }
            )
        path = root / ROOT / "lnqa" / "data" / f"{split}-00000-of-00001.parquet"
        _write_parquet(path, rows, IMAGE_QA_FEATURES)
        entries.append(_entry(root, path, "lnqa", rows=count, split=split))
    return entries


# --- ShareGPT-4o ---------------------------------------------------------------

SHAREGPT_PROMPTS = [
    "<image>\nDescribe this image in detail.",
    "<image>\nPlease give a detailed description of the image.",
    "<image>\nWhat is shown in this picture? Describe it thoroughly.",
]


def _detailed_caption(picture: images.Photo) -> str:
    paragraphs = [
        "The image is a colorful, abstract composition. " + picture.caption(),
        "In terms of layout, "
        + "; ".join(f"the {s.kind} sits in the {s.region} and is {s.size}" for s in picture.shapes)
        + ". The edges are soft, as if the picture were slightly out of focus, and a fine "
        "grain covers the whole frame.",
        "Overall, the scene feels calm and simple, with strong blocks of color and no people "
        "or animals present.",
    ]
    return "\n\n".join(paragraphs)


def sharegpt_name(seed: int, index: int) -> str:
    return f"{images.derive_seed(seed, 'sharegpt4o-name', index):016x}"[:12] + ".jpg"


def write_sharegpt4o(root: Path, seed: int) -> list[dict]:
    folder = root / ROOT / "sharegpt4o"
    entries, records = [], []
    for i in range(5):
        picture = images.photo(images.derive_seed(seed, "sharegpt4o", i), 640, 480)
        name = sharegpt_name(seed, i)
        path = folder / "images" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(images.jpeg_bytes(picture.image, 90))
        entries.append(_entry(root, path, "sharegpt4o", role="image"))
        records.append(
            {
                "id": f"sharegpt4o_{i:05d}",
                "image": name,
                "conversations": [
                    {"from": "human", "value": SHAREGPT_PROMPTS[i % len(SHAREGPT_PROMPTS)]},
                    {"from": "gpt", "value": _detailed_caption(picture)},
                ],
            }
        )
    jsonl = folder / "image_conversations" / "gpt-4o.jsonl"
    _write_jsonl(jsonl, records)
    entries.append(_entry(root, jsonl, "sharegpt4o", rows=len(records)))
    return entries


# --- IIW-400 -------------------------------------------------------------------

IIW_HOST = "https://storage.docci.example/data/images_aar"
SXS_METRICS = (
    "metrics/Comprehensiveness",
    "metrics/First few line(s) as tldr",
    "metrics/Hallucination",
    "metrics/Human Like",
    "metrics/Specificity",
)
SXS_CHOICES = ("IIW-Human is substantially better", "IIW-Human is marginally better", "Neutral")


def _iiw_description(picture: images.Photo) -> str:
    lead = picture.shapes[0]
    text = (
        f"A flat, brightly colored abstract scene is dominated by {lead.phrase()}. "
        + picture.caption()
        + " "
    )
    for shape in picture.shapes[1:]:
        text += (
            f"The {shape.color} {shape.kind} in the {shape.region} has soft edges and "
            "sits slightly apart from the other forms. "
        )
    text += "A fine grain covers the whole frame, and there is no clear light source."
    return text


def _iiw_objects(picture: images.Photo) -> list[dict]:
    """Object boxes as IIW writes them: (y_min, x_min, y_max, x_max) strings on 0..999."""
    objects = []
    for shape in picture.shapes:
        x0, y0, x1, y1 = (round(v * 999) for v in shape.box)
        objects.append(
            {
                "description": f"A {shape.size} {shape.color} {shape.kind} in the "
                f"{shape.region} of the frame.",
                "label": shape.kind.capitalize(),
                "normalized_coords": [str(y0), str(x0), str(y1), str(x1)],
            }
        )
    return objects


def _sxs(rng: np.random.Generator, other: str) -> dict:
    choices = SXS_CHOICES + (f"{other} is marginally better",)
    return {m: choices[int(rng.integers(len(choices)))] for m in SXS_METRICS}


def iiw_key(index: int) -> str:
    return f"aar_test_{4600 + index:05d}"


def write_iiw400(root: Path, seed: int) -> list[dict]:
    folder = root / ROOT / "iiw400"
    entries, rows = [], []
    for i in range(4):
        item_seed = images.derive_seed(seed, "iiw400", i)
        picture = images.photo(item_seed, 600, 450)
        key = iiw_key(i)
        path = folder / "images_aar" / f"{key}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(images.jpeg_bytes(picture.image, 90))
        entries.append(_entry(root, path, "iiw400", role="image"))
        rng = np.random.default_rng(item_seed)
        rows.append(
            {
                "IIW": _iiw_description(picture),
                "IIW-P5B": "An abstract image shows "
                + picture.caption()[len("The picture shows ") :],
                "iiw-human-sxs-gpt4v": _sxs(rng, "GPT-4V"),
                "iiw-human-sxs-iiw-p5b": _sxs(rng, "IIW-P5B"),
                "image/key": key,
                "image/url": f"{IIW_HOST}/{key}.jpg",
                "objects": _iiw_objects(picture),
            }
        )
    jsonl = folder / "data.jsonl"
    _write_jsonl(jsonl, rows)
    entries.append(_entry(root, jsonl, "iiw400", rows=len(rows)))
    return entries


# --- Geo170K -------------------------------------------------------------------

GEO_INSTRUCTION = (
    "First perform reasoning, then finally select the question from the choices "
    "in the following format: Answer: xxx."
)


def _choices(correct: str, others: list[str], rng: np.random.Generator) -> tuple[str, str]:
    options = [correct, *others]
    order = rng.permutation(len(options))
    letters = "ABCD"
    listed = "\n".join(f"{letters[k]}: {options[i]}" for k, i in enumerate(order))
    answer = letters[int(np.where(order == 0)[0][0])]
    return listed, answer


def _geo_question(fig: images.Diagram, rng: np.random.Generator, variant: int) -> tuple[str, str]:
    """A multiple-choice question the figure answers, and a worked solution."""
    if fig.kind == "circle":
        x = fig.facts["angle_AOB"]
        value = (180 - x) / 2
        question = (
            f"As shown in the figure, points A, B and C lie on circle O. If angle AOB "
            f"= {x}\u00b0, what is the measure of angle OAB?"
        )
        steps = (
            f"Since OA and OB are both radii of circle O, triangle OAB is isosceles, so "
            f"angle OAB = angle OBA = (180\u00b0 - {x}\u00b0) / 2 = {value:g}\u00b0."
        )
        correct = f"{value:g}\u00b0"
        others = [f"{value + 10:g}\u00b0", f"{value - 10:g}\u00b0", f"{180 - x}\u00b0"]
    elif fig.kind == "parallel_lines":
        x = fig.facts["angle_1"]
        question = (
            f"As shown in the figure, line a is parallel to line b, and both are cut by "
            f"a transversal. Angles 1 and 2 are same-side interior angles. If angle 1 = "
            f"{x}\u00b0, what is the measure of angle 2?"
        )
        steps = (
            f"Same-side interior angles formed by parallel lines are supplementary, so "
            f"angle 2 = 180\u00b0 - {x}\u00b0 = {180 - x}\u00b0."
        )
        correct = f"{180 - x}\u00b0"
        others = [f"{x}\u00b0", f"{90 - x // 2}\u00b0", f"{x + 20}\u00b0"]
    else:
        length = 2 * (3 + variant + int(rng.integers(0, 5)))
        question = (
            f"As shown in the figure, in triangle ABC, CD is the median to side AB. If "
            f"AB = {length}, what is the length of AD?"
        )
        steps = (
            f"A median joins a vertex to the midpoint of the opposite side, so D is the "
            f"midpoint of AB and AD = AB / 2 = {length} / 2 = {length // 2}."
        )
        correct, others = str(length // 2), [str(length), str(length // 2 + 1), str(length * 2)]
    listed, letter = _choices(correct, others, rng)
    human = f"<image>\n{GEO_INSTRUCTION}\nQuestion: {question}\nChoices:\n{listed}"
    return human, f"{steps}\nAnswer:{letter}"


def _geo_description(fig: images.Diagram) -> str:
    if fig.kind == "circle":
        return (
            "The figure shows a circle with center O. Points A, B and C lie on the circle "
            "and are joined to form triangle ABC, and the radii OA and OB are drawn."
        )
    if fig.kind == "parallel_lines":
        return (
            "The figure shows two horizontal parallel lines, a above and b below, crossed "
            "by a slanted transversal. Angle 1 is marked where the transversal meets line a "
            "and angle 2 where it meets line b."
        )
    return (
        "The figure shows triangle ABC with vertex C at the top and side AB at the bottom. "
        "Point D lies on AB, and the segment CD joins C to D."
    )


def write_geo170k(root: Path, seed: int) -> list[dict]:
    folder = root / ROOT / "geo170k"
    folder.mkdir(parents=True, exist_ok=True)
    figures, members = [], {}
    kinds = ("triangle", "circle", "parallel_lines", None)
    for i, kind in enumerate(kinds):
        fig = images.diagram(images.derive_seed(seed, "geo170k", i), kind=kind)
        name = f"geoqa_plus/{1000 + 37 * i}.png" if i < 3 else "geo3k/train/412/img_diagram.png"
        members[f"images/{name}"] = images.png_bytes(fig.image)
        figures.append((name, fig))
    rng = np.random.default_rng(images.derive_seed(seed, "geo170k-questions"))
    qa = []
    for i, (name, fig) in enumerate(figures[:3]):
        for variant in range(2 if i == 0 else 1):
            human, gpt = _geo_question(fig, rng, variant)
            qa.append(
                {
                    "image": name,
                    "conversations": [
                        {"from": "human", "value": human},
                        {"from": "gpt", "value": gpt},
                    ],
                }
            )
    alignment = [
        {
            "image": name,
            "conversations": [
                {"from": "human", "value": "<image>\nDescribe the geometric figure in detail."},
                {"from": "gpt", "value": _geo_description(fig)},
            ],
        }
        for name, fig in (figures[1], figures[3])
    ]
    entries = []
    for split, rows in (("qa_tuning", qa), ("alignment", alignment)):
        _write_json(folder / f"{split}.json", rows)
        entries.append(
            _entry(root, folder / f"{split}.json", "geo170k", rows=len(rows), split=split)
        )
        parquet = folder / "data" / f"{split}-00000-of-00001.parquet"
        _write_parquet(parquet, rows, GEO_FEATURES)
        entries.append(_entry(root, parquet, "geo170k", rows=len(rows), split=split))
    _write_zip(folder / "images.zip", members)
    entries.append(_entry(root, folder / "images.zip", "geo170k", members=len(members)))
    return entries


# --- benchmark images ----------------------------------------------------------


def _jpeg(image: Image.Image, quality: int) -> bytes:
    return images.jpeg_bytes(image, quality)


def _shrink(image: Image.Image) -> Image.Image:
    size = (round(image.width * 0.9), round(image.height * 0.9))
    return image.resize(size, Image.Resampling.LANCZOS)


def _crop(image: Image.Image) -> Image.Image:
    dx, dy = round(image.width * 0.02), round(image.height * 0.02)
    return image.crop((dx, dy, image.width - dx, image.height - dy))


TRANSFORMS = {
    "jpeg_q35": lambda image: (_jpeg(image, 35), "jpg"),
    "crop_2pct": lambda image: (_jpeg(_crop(image), 90), "jpg"),
    "resize_90": lambda image: (images.png_bytes(_shrink(image)), "png"),
    "crop_2pct+jpeg_q35": lambda image: (_jpeg(_crop(image), 35), "jpg"),
}


def _decode(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data)).convert("RGB")


def _benchmark_sources(root: Path, seed: int) -> list[tuple[str, dict, Image.Image]]:
    """(transform, where the original lives, original image) for each near-duplicate."""
    share = f"{ROOT}/sharegpt4o/images/{sharegpt_name(seed, 1)}"
    iiw = f"{ROOT}/iiw400/images_aar/{iiw_key(2)}.jpg"
    with zipfile.ZipFile(root / ROOT / "geo170k" / "images.zip") as archive:
        member = sorted(n for n in archive.namelist() if n.endswith(".png"))[0]
        geo_image = _decode(archive.read(member))
    lnqa_path = f"{ROOT}/lnqa/data/train-00000-of-00001.parquet"
    lnqa_cell = pq.read_table(root / lnqa_path).column("image")[3].as_py()
    return [
        ("jpeg_q35", {"duplicate_of": share}, _decode((root / share).read_bytes())),
        ("crop_2pct", {"duplicate_of": iiw}, _decode((root / iiw).read_bytes())),
        ("resize_90", {"duplicate_of": f"{ROOT}/geo170k/images.zip", "member": member}, geo_image),
        ("crop_2pct+jpeg_q35", {"duplicate_of": lnqa_path, "row": 3}, _decode(lnqa_cell["bytes"])),
    ]


def _unrelated(seed: int) -> list[tuple[bytes, str]]:
    photos = [
        images.photo(images.derive_seed(seed, "benchmark", k), 560, 420).image for k in range(2)
    ]
    figure = images.diagram(images.derive_seed(seed, "benchmark", "diagram")).image
    return [(_jpeg(p, 90), "jpg") for p in photos] + [(images.png_bytes(figure), "png")]


def write_benchmark(root: Path, seed: int) -> list[dict]:
    """Near-duplicates of source images plus unrelated pictures, for decontamination."""
    folder = root / ROOT / "benchmark_images"
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for i, (name, facts, original) in enumerate(_benchmark_sources(root, seed)):
        data, ext = TRANSFORMS[name](original)
        path = folder / f"bench_{i:03d}.{ext}"
        path.write_bytes(data)
        distance = imagehash.phash(_decode(data)) - imagehash.phash(original)
        entries.append(
            _entry(
                root,
                path,
                "benchmark_images",
                role="image",
                transform=name,
                phash_distance=int(distance),
                **facts,
            )
        )
    for k, (data, ext) in enumerate(_unrelated(seed), start=len(entries)):
        path = folder / f"bench_{k:03d}.{ext}"
        path.write_bytes(data)
        entries.append(_entry(root, path, "benchmark_images", role="image", duplicate_of=None))
    return entries


def write(root: Path, seed: int) -> list[dict]:
    """Write every Cauldron source folder; benchmark images last, as they copy the others."""
    root = Path(root)
    entries = []
    for part in (
        write_cord,
        write_lnqa,
        write_sharegpt4o,
        write_iiw400,
        write_geo170k,
        write_benchmark,
    ):
        entries.extend(part(root, seed))
    return entries
