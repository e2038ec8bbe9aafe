"""Layouts (fersyn.data.layout): label maps, annotation CSVs, subjects, CK+ frame counts and face detection, each
built in a temporary folder from generated images; and the dataset table of docs/data.md, row by row."""

import functools
import json
import re
import shlex
from pathlib import Path

import numpy as np
import pytest
from helpers import RNG, assert_one_line_error, make_folder_tree, run
from PIL import Image

from fersyn.data import load_dataset, split_dataset
from fersyn.data.layout import Layout
from fersyn.errors import FersynError

DATA_DOC = Path(__file__).resolve().parents[1] / "docs" / "data.md"


def write_images(folder, names, size=(40, 40)):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        Image.fromarray(RNG.integers(0, 256, size, dtype=np.uint8)).save(folder / name)
    return folder


def emotions_of(faces):
    return dict(zip(faces.names, np.array(faces.emotions)[faces.labels]))


def test_numeric_class_folders_through_a_label_map_or_a_preset(tmp_path):
    for code in ("1", "4", "7"):
        write_images(tmp_path / "raf" / "train" / code, [f"train_{code}{i}.jpg" for i in range(10)])
        write_images(tmp_path / "raf" / "test" / code, [f"test_{code}{i}.jpg" for i in range(2)])
    faces = load_dataset(tmp_path / "raf", image_size=16, emotions="present", layout=Layout(labels="rafdb"))
    assert faces.counts() == {"happiness": 12, "surprise": 12, "neutral": 12}
    assert split_dataset(faces, seed=0).method == "predefined (split folders)"
    assert sorted(set(faces.usage[faces.labels == faces.emotions.index("surprise")])) == ["test", "train"]
    mapped = load_dataset(tmp_path / "raf", image_size=16, emotions="present",
                          layout=Layout(labels="1=anger, 4=sad,7=contemptuous"))
    assert mapped.counts() == {"anger": 12, "sadness": 12, "contempt": 12}
    for code in ("0", "7"):
        write_images(tmp_path / "affectnet" / code, [f"{code}_{i}.png" for i in range(3)])
    faces = load_dataset(tmp_path / "affectnet", image_size=16, emotions="present", layout=Layout(labels="affectnet"))
    assert faces.counts() == {"neutral": 3, "contempt": 3}


def test_a_label_map_that_misses_a_class_is_one_line_naming_the_folder_and_the_command(tmp_path):
    for code in ("1", "2", "8"):
        write_images(tmp_path / "raf" / code, ["a.jpg"])
    with pytest.raises(FersynError, match=r"raf/8: label '8' is not in the label map `labels` rafdb \(which names 1, 2, "
                                          r"3, 4, 5, 6, 7\).*`fersyn data info .*raf --labels rafdb` shows the layout"):
        load_dataset(tmp_path / "raf", layout=Layout(labels="rafdb"))
    with pytest.raises(FersynError, match=r"`labels` '1=surprise,2': write LABEL=EMOTION pairs"):
        Layout(labels="1=surprise,2")
    with pytest.raises(FersynError, match=r"`labels` 2=bored: unknown emotion label 'bored'"):
        Layout(labels="1=surprise,2=bored")


def test_an_annotation_csv_gives_labels_subjects_and_splits(tmp_path):
    root = tmp_path / "affectnet"
    write_images(root / "images" / "0", [f"{i}.jpg" for i in range(6)])
    write_images(root / "images" / "1", [f"{i}.jpg" for i in range(6)])
    rows = ["path,label,subject,split"] + [
        f"images/{code}/{i}.jpg,{code},P{i % 3},{('train', 'train', 'train', 'train', 'val', 'test')[i]}"
        for code in (0, 1) for i in range(6)]
    (root / "lists").mkdir()
    (root / "lists" / "labels.csv").write_text("\n".join(row.replace("images/", "../images/") for row in rows) + "\n")
    faces = load_dataset(root, image_size=16, emotions="present",
                         layout=Layout(annotations=str(root / "lists" / "labels.csv"), labels="affectnet"))
    assert faces.counts() == {"happiness": 6, "neutral": 6}
    assert sorted(set(faces.subjects.tolist())) == ["P0", "P1", "P2"]
    assert faces.usage_from == "split column" and split_dataset(faces, seed=0).method == "predefined (split column)"
    assert emotions_of(faces)["../images/1/5.jpg"] == "happiness" and faces.usage[list(faces.names).index("../images/1/5.jpg")] == "test"
    # A dataset's own column names (AffectNet's list), without subject or split columns; emotion names need no map.
    (root / "images" / "own.csv").write_text("subDirectory_filePath,face_x,expression\n0/1.jpg,3,sad\n1/2.jpg,4,happy\n")
    faces = load_dataset(root, image_size=16, emotions="present", layout=Layout(annotations=root / "images" / "own.csv"))
    assert emotions_of(faces) == {"0/1.jpg": "sadness", "1/2.jpg": "happiness"} and faces.usage is None


def test_an_annotation_row_whose_image_is_missing_is_one_line(tmp_path):
    write_images(tmp_path / "d", ["a.jpg"])
    (tmp_path / "d" / "labels.csv").write_text("image,label\na.jpg,1\nb.jpg,2\n")
    with pytest.raises(FersynError, match=r"labels.csv: row 3: image b.jpg not found; paths are relative to the CSV's "
                                          r"folder, here .*d/b.jpg \(`fersyn data info .*d --labels rafdb --annotations "
                                          r".*labels.csv` shows the layout read\)"):
        load_dataset(tmp_path / "d", layout=Layout(annotations=tmp_path / "d" / "labels.csv", labels="rafdb"))


def test_subject_from_a_folder_level_or_a_file_name_pattern(tmp_path):
    root = tmp_path / "d"
    for person in ("P01", "P02", "P03"):
        for emotion in ("happy", "sad"):
            write_images(root / person / "take1" / emotion, [f"{person.lower()}-{emotion}-{i}.png" for i in range(2)])
    assert set(load_dataset(root, image_size=16, emotions="happiness,sadness").subjects) == {"take1"}  # the folder above
    by_folder = load_dataset(root, image_size=16, emotions="happiness,sadness", layout=Layout(subject_from="folder:3"))
    assert sorted(set(by_folder.subjects.tolist())) == ["P01", "P02", "P03"]
    assert split_dataset(by_folder, seed=0).method == "subject-disjoint"
    assert set(load_dataset(root, image_size=16, emotions="happiness,sadness", layout=Layout(subject_from=1)).subjects) == {"happy", "sad"}
    by_name = load_dataset(root, image_size=16, emotions="happiness,sadness", layout=Layout(subject_from=r"^(p\d+)-"))
    assert by_name.subjects[list(by_name.names).index("P02/take1/happy/p02-happy-1.png")] == "p02"
    with pytest.raises(FersynError, match=r"p01-happy-0.png: the file name does not match `subject_from` '\^\(S\\\\d\+\)_'"):
        load_dataset(root, layout=Layout(subject_from=r"^(S\d+)_"))
    with pytest.raises(FersynError, match=r"`subject_from` '\(a\)\(b\)': a pattern needs exactly one group"):
        Layout(subject_from="(a)(b)")
    with pytest.raises(FersynError, match=r"asks for the folder 5 level\(s\) above the file, but the path has only 3"):
        load_dataset(root, layout=Layout(subject_from="folder:5"))


def test_ck_plus_frame_counts_are_an_option(tmp_path):
    root = tmp_path / "CK+"
    write_images(root / "cohn-kanade-images" / "S005" / "001", [f"S005_001_{i:08d}.png" for i in range(1, 9)])
    (root / "Emotion" / "S005" / "001").mkdir(parents=True)
    (root / "Emotion" / "S005" / "001" / "S005_001_00000008_emotion.txt").write_text("   5.0000000e+00\n")
    faces = load_dataset(root, image_size=16, emotions="present", layout=Layout(ck_frames="5,2"))
    assert faces.counts() == {"happiness": 5, "neutral": 2}
    assert emotions_of(faces)["cohn-kanade-images/S005/001/S005_001_00000002.png"] == "neutral"
    assert load_dataset(root, image_size=16, emotions="present", layout=Layout(ck_frames=(1, 0))).counts() == {"happiness": 1}
    with pytest.raises(FersynError, match=r"`ck_frames` applies to the original CK\+ distribution"):
        load_dataset(make_folder_tree(tmp_path / "folders"), layout=Layout(ck_frames="2,1"))
    with pytest.raises(FersynError, match=r"`ck_frames` 0,1: take at least 1 peak frame"):
        Layout(ck_frames="0,1")


def test_a_default_layout_describes_as_nothing_and_leaves_records_unchanged():
    from fersyn.sweep.spec import Sweep

    assert Layout().describe() == {} and Layout(ck_frames="3,1", faces="as-is").describe() == {}
    assert Layout(labels="4=happy,1=surprise,2=fear,3=disgust,5=sad,6=angry,7=neutral").describe() == {"labels": "rafdb"}
    record = Sweep(ratios="0").record()
    assert "layout" not in record and "test_layout" not in record
    assert Sweep(ratios="0", layout={"faces": "detect"}).record()["layout"] == {"faces": "detect"}


# --- faces detect: toy faces, rendered large and pasted off-centre into bigger photos ---

FACE_SIDE = 160
# Of 12 toy faces rendered at 160 px (seed 0), those OpenCV's frontal-face cascade finds both upright and turned by
# 12° (toy rendering is deterministic; the others are missed: a drawn face is not always face enough).
DETECTED = (0, 3, 6, 8, 11)


@functools.cache
def toy_faces():
    from fersyn.data.toy import random_identities, render_faces

    rng = np.random.default_rng(0)
    return render_faces(random_identities(12, rng), np.arange(12), ["happiness", "sadness"] * 6, rng, FACE_SIDE)[..., 0]


def face_photo(index, left, top, tilt=0.0, shape=(360, 480)):
    """A photo of toy face `index` with its top-left corner at (left, top) on a plain background, turned by `tilt`°
    (counter-clockwise) about its centre."""
    photo = np.full(shape, 120, np.uint8)
    photo[top : top + FACE_SIDE, left : left + FACE_SIDE] = toy_faces()[index]
    centre = (left + FACE_SIDE / 2, top + FACE_SIDE / 2)
    return np.asarray(Image.fromarray(photo).rotate(tilt, center=centre, fillcolor=120)) if tilt else photo


def no_face_photo(shape=(360, 480)):
    return np.tile(np.linspace(30, 220, shape[1]).astype(np.uint8), (shape[0], 1))  # a smooth wall


def test_faces_detect_crops_the_face_centred_and_skips_photos_without_one(tmp_path, monkeypatch):
    from fersyn.data.assemble import to_square_gray
    from fersyn.data.faces import FaceCropper, cache_folder

    monkeypatch.setenv("FERSYN_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "photos"
    corners = {0: (280, 20), 3: (30, 170), 6: (300, 180), 8: (20, 10), 11: (160, 100)}
    for index, (left, top) in corners.items():
        folder = root / ("happy" if index % 2 == 0 else "sad")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(face_photo(index, left, top)).save(folder / f"face{index}.png")
    for i in range(2):
        Image.fromarray(no_face_photo()).save(root / "sad" / f"wall{i}.png")
    faces = load_dataset(root, image_size=48, emotions="happiness,sadness", layout=Layout(faces="detect"))
    assert len(faces) == 5 and len(faces.skipped) == 2
    assert all(entry.endswith("no face found") and "wall" in entry for entry in faces.skipped)
    cropper, as_is = FaceCropper([]), load_dataset(root, image_size=48, emotions="happiness,sadness")
    for index, (left, top) in corners.items():
        name = f"{'happy' if index % 2 == 0 else 'sad'}/face{index}.png"
        photo, true_x, true_y = face_photo(index, left, top), left + FACE_SIDE / 2, top + FACE_SIDE / 2
        centre_x, centre_y, side, _ = cropper.locate(photo)
        assert abs(centre_x - true_x) < 0.1 * FACE_SIDE and abs(centre_y - true_y) < 0.1 * FACE_SIDE
        assert FACE_SIDE < side < 1.6 * FACE_SIDE  # the face with a margin, not the photo
        # The crop loaded is the square around the known face box: far closer to it than the photo's centre crop.
        centred = to_square_gray(cropper.cut(photo, (true_x, true_y, side, 0.0)), 48).astype(float).ravel()
        crop = faces.images[list(faces.names).index(name), ..., 0].astype(float).ravel()
        centre_crop = as_is.images[list(as_is.names).index(name), ..., 0].astype(float).ravel()
        assert np.corrcoef(centred, crop)[0, 1] > 0.6 > 0.2 > np.corrcoef(centred, centre_crop)[0, 1]
    # The detections are cached: loading again detects nothing.
    assert len(list(cache_folder().glob("*.json"))) == 1
    monkeypatch.setattr(FaceCropper, "locate", lambda *_: pytest.fail("detected again despite the cache"))
    again = load_dataset(root, image_size=32, emotions="happiness,sadness", layout=Layout(faces="detect"))
    assert len(again) == 5 and len(again.skipped) == 2


def test_faces_detect_levels_the_eyes_of_a_tilted_face():
    from fersyn.data.faces import FaceCropper

    cropper = FaceCropper([])
    for index in (6, 11):
        *_, angle = cropper.locate(face_photo(index, 40, 150, tilt=12))
        assert -17 < angle < -7  # turned back (clockwise) by about the tilt


def test_no_face_anywhere_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("FERSYN_CACHE", str(tmp_path / "cache"))
    (tmp_path / "walls" / "happy").mkdir(parents=True)
    for i in range(2):
        Image.fromarray(no_face_photo()).save(tmp_path / "walls" / "happy" / f"{i}.png")
    with pytest.raises(FersynError, match=r"walls: no face found in any of its 2 images by OpenCV's frontal-face "
                                          r"detector; .*`fersyn data info .*walls --faces detect` shows the layout"):
        load_dataset(tmp_path / "walls", emotions="happiness", layout=Layout(faces="detect"))


# --- the command line ---


def test_data_info_reads_a_label_map_and_a_bad_map_is_one_line(tmp_path):
    for code in ("1", "4"):
        write_images(tmp_path / "raf" / code, [f"{code}_{i}.jpg" for i in range(10)])
    result = run("data", "info", tmp_path / "raf", "--labels", "rafdb", "--json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["emotions"] == {"happiness": 10, "surprise": 10} and info["layout"] == {"labels": "rafdb"}
    assert "layout       --labels rafdb" in run("data", "info", tmp_path / "raf", "--labels", "rafdb").output
    assert_one_line_error(run("data", "info", tmp_path / "raf", "--labels", "1=surprise,2=fear"),
                          "label '4' is not in the label map --labels 1=surprise,2=fear")
    assert_one_line_error(run("data", "info", "toy", "--subject-from", "(a)(b)"), "a pattern needs exactly one group")


# --- the dataset table of docs/data.md: each row's DATA and options read a small tree built in that layout ---


def readme_rows():
    """(dataset, DATA, options) of each row of docs/data.md's table of known datasets."""
    table = re.search(r"<!-- datasets -->\n(.*?)<!-- /datasets -->", DATA_DOC.read_text(), re.S).group(1)
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in table.strip().splitlines()[2:]]
    return [(name, data.strip("`"), options.strip("`") if options.startswith("`") else "") for name, data, options, *_ in rows]


def build_fer_csv(cwd):
    from helpers import pixels, write_fer_csv

    write_fer_csv(cwd / "fer2013.csv", [(code, pixels(48), usage) for code in (0, 3, 6)
                                        for usage in ("Training", "Training", "PublicTest", "PrivateTest")])
    return {"emotions": {"anger": 4, "happiness": 4, "neutral": 4}, "split": "predefined (Usage column)"}


def build_fer_folders(cwd):
    for split, count in (("train", 10), ("test", 2)):
        for emotion in ("angry", "happy", "neutral"):
            write_images(cwd / "fer2013" / split / emotion, [f"{split.title()}_{emotion}{i}.jpg" for i in range(count)])
    return {"emotions": {"anger": 12, "happiness": 12, "neutral": 12}, "split": "predefined (split folders)"}


def build_ck_plus(cwd):
    for subject in ("S005", "S010", "S011"):
        write_images(cwd / "CK+" / "cohn-kanade-images" / subject / "001", [f"{subject}_001_{i:08d}.png" for i in range(1, 7)])
        (cwd / "CK+" / "Emotion" / subject / "001").mkdir(parents=True)
        (cwd / "CK+" / "Emotion" / subject / "001" / f"{subject}_001_00000006_emotion.txt").write_text("7\n")
    return {"emotions": {"surprise": 9, "neutral": 3}, "subjects": 3}


def build_ck48(cwd):
    for emotion in ("anger", "happy", "surprise"):
        write_images(cwd / "CK+48" / emotion, [f"S{s:03d}_00{i}_0000001{i}.png" for s in range(3) for i in range(2)])
    return {"emotions": {"anger": 6, "happiness": 6, "surprise": 6}, "subjects": 3}


def photos(folder, names):
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        Image.fromarray(face_photo(DETECTED[i % len(DETECTED)], 30 + 40 * (i % 5), 10 + 25 * (i % 4), shape=(256, 416))
                        ).save(folder / name)


def build_jaffe(cwd):
    photos(cwd / "jaffe", [f"{who}.{code}1.{i}.tiff" for who in ("KA", "KL", "KM") for i, code in enumerate(("HA", "SU"))])
    return {"emotions": {"happiness": 3, "surprise": 3}, "subjects": 3}


def build_rafd(cwd):
    photos(cwd / "RaFD", [f"Rafd090_{who:02d}_Caucasian_female_{emotion}_frontal.jpg" for who in (1, 2, 3)
                          for emotion in ("angry", "happy")])
    return {"emotions": {"anger": 3, "happiness": 3}, "subjects": 3}


def build_rafdb(cwd):
    for split, count in (("train", 10), ("test", 2)):
        for code in ("1", "4", "7"):
            write_images(cwd / "RAF-DB" / "DATASET" / split / code, [f"{split}_{code}{i}_aligned.jpg" for i in range(count)])
    return {"emotions": {"happiness": 12, "surprise": 12, "neutral": 12}, "split": "predefined (split folders)"}


def build_affectnet(cwd):
    images = cwd / "AffectNet" / "Manually_Annotated_Images"
    write_images(images / "101", [f"{i}.jpg" for i in range(30)])
    (images / "training.csv").write_text("subDirectory_filePath,face_x,face_y,expression\n" + "".join(
        f"101/{i}.jpg,0,0,{i % 3}\n" for i in range(30)))
    return {"emotions": {"neutral": 10, "happiness": 10, "sadness": 10}}


def build_oulu(cwd):
    for person in ("P001", "P002", "P003"):
        for emotion in ("Anger", "Happiness"):
            write_images(cwd / "Oulu-CASIA" / "VL" / "Strong" / person / emotion, [f"{i:03d}.jpeg" for i in range(2)])
    return {"emotions": {"anger": 6, "happiness": 6}, "subjects": 3}


BUILDERS = {
    "FER2013, CSV": build_fer_csv, "FER2013, folders": build_fer_folders, "CK+, original": build_ck_plus,
    "CK+48 crops": build_ck48, "JAFFE": build_jaffe, "RaFD": build_rafd, "RAF-DB": build_rafdb,
    "AffectNet": build_affectnet, "Oulu-CASIA": build_oulu,
}


def test_the_docs_table_has_a_row_for_every_known_dataset():
    assert [name for name, *_ in readme_rows()] == list(BUILDERS)


@pytest.mark.parametrize("name", list(BUILDERS))
def test_each_docs_row_reads_its_layout(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FERSYN_CACHE", str(tmp_path / "cache"))
    expected = BUILDERS[name](tmp_path)
    _, data, options = next(row for row in readme_rows() if row[0] == name)
    result = run("data", "info", data, *shlex.split(options), "--emotions", "present", "--image-size", "16", "--json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["emotions"] == expected["emotions"] and not info["skipped_files"]
    if "subjects" in expected:
        assert info["subjects"] == expected["subjects"] and info["split"]["method"] == "subject-disjoint"
    if "split" in expected:
        assert info["split"]["method"] == expected["split"]
