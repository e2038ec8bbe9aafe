"""Annotation CSVs (AffectNet, RAF-DB style): one row per image, `path,label[,subject][,split]`, the paths
relative to the CSV. The usual spellings of those columns are read too, so that a dataset's own list often
needs no editing (AffectNet's `subDirectory_filePath`/`expression`, RAF-DB's Kaggle `image`/`label`)."""

from __future__ import annotations

from pathlib import Path

from fersyn.data.assemble import label_at, usage_at
from fersyn.data.layout import Layout
from fersyn.errors import FersynError

# Each column and the names it goes by (compared without case).
COLUMNS = {
    "path": ("path", "image", "file", "filename", "subdirectory_filepath"),
    "label": ("label", "emotion", "expression"),
    "subject": ("subject", "subject_id", "person"),
    "split": ("split", "usage", "set"),
}


def annotation_entries(csv: Path, layout: Layout, data: Path) -> tuple[list[tuple[Path, str, str | None, str | None]], str | None]:
    """(file, emotion, split, subject) of every row of the annotation CSV `csv`, labels through `layout`'s label map;
    and "split column" where the CSV predefines the split. `data` (the dataset's folder) is named in errors."""
    import pandas as pd

    try:
        table = pd.read_csv(csv, dtype=str, keep_default_na=False)
    except Exception as error:  # pandas raises many types for unreadable files (missing, gzip, parser, encoding)
        raise FersynError(f"`annotations` {csv}: cannot read as CSV ({type(error).__name__}: {error})") from None
    found = {name.strip().lower(): name for name in table.columns}
    column = {key: next((found[n] for n in names if n in found), None) for key, names in COLUMNS.items()}
    if column["path"] is None or column["label"] is None:
        raise FersynError(f"`annotations` {csv}: an annotation CSV needs columns path and label (or "
                          f"{'/'.join(COLUMNS['path'][1:])}, {'/'.join(COLUMNS['label'][1:])}), optionally subject and "
                          f"split; found: {', '.join(table.columns) or 'none'}")
    if table.empty:
        raise FersynError(f"`annotations` {csv}: the CSV has no rows")
    entries = []
    for row, record in enumerate(table.to_dict("records"), start=2):  # row 1 is the header
        file = csv.parent / record[column["path"]].strip()
        if not file.is_file():
            raise FersynError(f"{csv}: row {row}: image {record[column['path']]} not found; paths are relative to the "
                              f"CSV's folder, here {file} ({layout.shown_by(data)})")
        subject = record[column["subject"]].strip() if column["subject"] else None
        split = usage_at(csv, row, record[column["split"]]) if column["split"] else None
        entries.append((file, label_at(csv, row, record[column["label"]], layout), split, subject or None))
    return entries, "split column" if column["split"] else None
