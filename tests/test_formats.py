import logging

import h5py
import numpy as np
import pytest
from helpers import RNG, make_folder_tree, pixels, write_fer_csv
from PIL import Image

from fersyn.data import load_dataset, split_dataset
from fersyn.errors import FersynError


def test_folder_tree_any_size_and_colour_becomes_square_gray(tmp_path):
    root = make_folder_tree(tmp_path / "data")
    faces = load_dataset(root, image_size=32, emotions="happiness,sadness")
    assert faces.images.shape == (5, 32, 32, 1) and faces.images.dtype == np.uint8
    assert faces.counts() == {"happiness": 3, "sadness": 2}
    assert list(faces.subjects) == ["S000", "S001", "S002", "S000", "S001"]  # CK+ naming gives subjects


@pytest.mark.parametrize("suffix", [".jpg", ".jpeg", ".bmp", ".tif", ".tiff"])
def test_folder_tree_reads_every_image_format(tmp_path, suffix):
    faces = load_dataset(make_folder_tree(tmp_path / "d", suffix=suffix, mode="L"), image_size=16, emotions="happiness,sadness")
    assert len(faces) == 5


def test_folder_tree_leaves_out_and_counts_other_emotions(tmp_path):
    root = make_folder_tree(tmp_path / "d", spec=(("happy", 2), ("sad", 1), ("contempt", 4)))
    faces = load_dataset(root, emotions="happy,sad")
    assert len(faces) == 3 and faces.dropped == {"contempt": 4}


def test_unreadable_image_is_skipped_with_a_warning_naming_it(tmp_path, caplog):
    root = make_folder_tree(tmp_path / "d")
    (root / "happy" / "broken.png").write_bytes(b"not an image at all")
    good = root / "sad" / "S000_001_0000001.png"
    truncated = root / "sad" / "S009_001_0000001.png"
    truncated.write_bytes(good.read_bytes()[:60])
    with caplog.at_level(logging.WARNING, logger="fersyn"):
        faces = load_dataset(root, emotions="happiness,sadness")
    assert len(faces) == 5 and len(faces.skipped) == 2
    assert "broken.png" in caplog.text and "S009_001_0000001.png" in caplog.text


def test_fer_csv_plain_and_gzipped_keep_usage(tmp_path):
    rows = [(3, pixels(), "Training"), (4, pixels(), "PublicTest"), (3, pixels(), "PrivateTest"), (4, pixels(), "Training")]
    for name in ("f.csv", "f.csv.gz"):
        faces = load_dataset(write_fer_csv(tmp_path / name, rows), image_size=8, emotions="happiness,sadness")
        assert faces.images.shape == (4, 8, 8, 1)
        assert list(faces.usage) == ["train", "val", "test", "train"]
        assert [faces.emotions[label] for label in faces.labels] == ["happiness", "sadness", "happiness", "sadness"]


def test_fer_csv_keeps_pixels_exactly_at_native_size(tmp_path):
    rows = [(0, pixels(8, value=7), "Training"), (0, pixels(8, value=200), "Training")]
    faces = load_dataset(write_fer_csv(tmp_path / "f.csv", rows), image_size=8, emotions="anger")
    assert faces.images[0].max() == faces.images[0].min() == 7 and faces.images[1].min() == 200


def test_npz_and_h5_with_names_or_coded_labels(tmp_path):
    images = RNG.integers(0, 256, (6, 20, 20), dtype=np.uint8)
    np.savez(tmp_path / "a.npz", images=images, labels=np.array(["happy", "sad"] * 3))
    with h5py.File(tmp_path / "a.h5", "w") as store:
        store["images"] = images[..., None]
        store["labels"] = np.array([0, 1] * 3)
        store["label_names"] = np.array([b"angry", b"surprised"])
        store["subjects"] = np.array([b"A", b"B", b"C"] * 2)
    from_npz = load_dataset(tmp_path / "a.npz", image_size=20, emotions="happiness,sadness")
    from_h5 = load_dataset(tmp_path / "a.h5", image_size=10, emotions="anger,surprise")
    assert np.array_equal(from_npz.images[..., 0], images)
    assert from_h5.images.shape == (6, 10, 10, 1) and list(from_h5.subjects[:3]) == ["A", "B", "C"]
    assert from_h5.counts() == {"anger": 3, "surprise": 3}


def test_fingerprint_follows_content(tmp_path):
    rows = [(3, pixels(), "Training"), (4, pixels(), "Training")]
    a = load_dataset(write_fer_csv(tmp_path / "a.csv", rows), emotions="happiness,sadness")
    b = load_dataset(write_fer_csv(tmp_path / "b.csv", rows), emotions="happiness,sadness")
    c = load_dataset(write_fer_csv(tmp_path / "c.csv", rows[::-1]), emotions="happiness,sadness")
    assert a.fingerprint == b.fingerprint != c.fingerprint


# --- bad input: one clear FersynError each (the CLI turns it into one line, see test_cli.py) ---


def test_missing_path(tmp_path):
    with pytest.raises(FersynError, match="no such file, folder or dataset name"):
        load_dataset(tmp_path / "nowhere")


def test_unknown_format(tmp_path):
    (tmp_path / "faces.parquet").write_bytes(b"x")
    with pytest.raises(FersynError, match="unknown data format"):
        load_dataset(tmp_path / "faces.parquet")


def test_csv_row_that_is_not_a_square_image(tmp_path):
    rows = [(3, pixels(), "Training"), (4, " ".join(["1"] * 15), "Training")]
    with pytest.raises(FersynError, match=r"row 3 has 15 pixel values, not a square 4×4 image"):
        load_dataset(write_fer_csv(tmp_path / "f.csv", rows))


def test_csv_with_unknown_label(tmp_path):
    with pytest.raises(FersynError, match=r"row 2: unknown emotion label 'bored'"):
        load_dataset(write_fer_csv(tmp_path / "f.csv", [("bored", pixels(), "Training")]))


def test_folder_with_unknown_label(tmp_path):
    root = make_folder_tree(tmp_path / "d", spec=(("happy", 1), ("bored", 1)))
    with pytest.raises(FersynError, match="folder name is not an emotion: unknown emotion label 'bored'"):
        load_dataset(root)


def test_requested_emotion_with_zero_images(tmp_path):
    root = make_folder_tree(tmp_path / "d")
    with pytest.raises(FersynError, match="has no images of fear .*it has happiness, sadness"):
        load_dataset(root, emotions="happiness,fear")


def test_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FersynError, match="no images found"):
        load_dataset(tmp_path / "empty")


def test_folder_whose_images_are_all_unreadable(tmp_path):
    (tmp_path / "d" / "happy").mkdir(parents=True)
    (tmp_path / "d" / "happy" / "a.png").write_bytes(b"junk")
    with pytest.raises(FersynError, match="none of its 1 image files could be read"):
        load_dataset(tmp_path / "d")


def test_arrays_without_label_names(tmp_path):
    np.savez(tmp_path / "a.npz", images=np.zeros((2, 8, 8), np.uint8), labels=np.array([0, 1]))
    with pytest.raises(FersynError, match="integer 'labels' need a 'label_names' array"):
        load_dataset(tmp_path / "a.npz")


def test_corrupt_archive(tmp_path):
    (tmp_path / "a.npz").write_bytes(b"PK not really")
    with pytest.raises(FersynError, match="cannot read as .npz"):
        load_dataset(tmp_path / "a.npz")


def test_split_folders_in_any_capitalisation_are_the_predefined_split(tmp_path):
    root = tmp_path / "fer2013"
    for split, spec in (("Train", (("happy", 6), ("sad", 5))), ("test", (("happy", 2), ("sad", 2))),
                        ("VALIDATION", (("happy", 1), ("sad", 1)))):
        make_folder_tree(root / split, spec=spec, mode="L", suffix=".jpg")
    faces = load_dataset(root, image_size=16, emotions="happiness,sadness")
    assert len(faces) == 17 and faces.usage_from == "split folders"
    assert sorted(faces.usage.tolist()) == ["test"] * 4 + ["train"] * 11 + ["val"] * 2
    assert faces.names[faces.usage == "test"][0].startswith("test/")
    split = split_dataset(faces, seed=0)
    assert split.method == "predefined (split folders)"
    assert sorted(faces.names[split.test]) == sorted(faces.names[faces.usage == "test"])
    assert sorted(faces.names[split.val]) == sorted(faces.names[faces.usage == "val"])


def test_a_train_folder_alone_is_split_further_by_subject(tmp_path):
    make_folder_tree(tmp_path / "only" / "train", spec=(("happy", 8), ("sad", 8)), mode="L")
    faces = load_dataset(tmp_path / "only", image_size=16, emotions="happiness,sadness")
    assert set(faces.usage.tolist()) == {"train"}
    assert split_dataset(faces, seed=0).method == "subject-disjoint"  # S000… in the names give the subjects


def test_split_folders_that_are_wrong_say_so_in_one_line(tmp_path):
    make_folder_tree(tmp_path / "a" / "train", mode="L")
    (tmp_path / "a" / "test").mkdir()
    with pytest.raises(FersynError, match=r"test: a split folder with no class folder of images; a split-folder dataset "
                                          r"is ROOT/train/<emotion>/\*\.png"):
        load_dataset(tmp_path / "a")
    make_folder_tree(tmp_path / "b" / "train", mode="L")
    make_folder_tree(tmp_path / "b" / "extra", mode="L")
    with pytest.raises(FersynError, match=r"split folders \(train\) beside class folders \(extra\); use one layout"):
        load_dataset(tmp_path / "b")


def write_flat(root, names, size=(40, 40)):
    root.mkdir(parents=True)
    for name in names:
        Image.fromarray(RNG.integers(0, 256, size, dtype=np.uint8)).save(root / name)
    return root


def test_jaffe_and_rafd_names_carry_emotion_and_subject_in_a_flat_folder(tmp_path):
    jaffe = write_flat(tmp_path / "jaffe", [f"{who}.{code}{n}.{i}.tiff" for who in ("KA", "KL", "KM")
                                            for i, (code, n) in enumerate((("AN", 1), ("HA", 2), ("SU", 1), ("NE", 3)))])
    faces = load_dataset(jaffe, image_size=16, emotions="anger,happiness,surprise,neutral")
    assert faces.counts() == {"anger": 3, "happiness": 3, "surprise": 3, "neutral": 3}
    assert sorted(set(faces.subjects.tolist())) == ["KA", "KL", "KM"]
    assert faces.subjects[list(faces.names).index("KL.HA2.1.tiff")] == "KL"
    rafd = write_flat(tmp_path / "rafd", [f"Rafd090_{who:02d}_Caucasian_female_{emotion}_frontal.jpg"
                                          for who in (1, 2, 3) for emotion in ("angry", "happy", "contemptuous")])
    faces = load_dataset(rafd, image_size=16, emotions="anger,happiness,contempt")
    assert faces.counts() == {"anger": 3, "happiness": 3, "contempt": 3}
    assert split_dataset(faces, seed=0).method == "subject-disjoint" and sorted(set(faces.subjects)) == ["01", "02", "03"]


def test_a_name_with_an_unknown_code_or_convention_is_one_line(tmp_path):
    with pytest.raises(FersynError, match=r"KA\.XX1\.2\.tiff: unknown emotion code 'XX' in a JAFFE name; expected e\.g\. "
                                          r"KA\.AN1\.39\.tiff"):
        load_dataset(write_flat(tmp_path / "a", ["KA.AN1.1.tiff", "KA.XX1.2.tiff", "KB.HA1.3.tiff"]))
    with pytest.raises(FersynError, match=r"neither in class folders \(ROOT/<emotion>/…\) nor named by a known convention"):
        load_dataset(write_flat(tmp_path / "b", ["img1.png", "img2.png"]))


def test_the_original_ck_plus_distribution_reads_apex_frames_as_the_emotion_and_the_first_as_neutral(tmp_path):
    root = tmp_path / "CK+"
    for subject, sequence, code, frames in (("S005", "001", 3, 6), ("S010", "002", 5, 5), ("S010", "003", None, 4)):
        write_flat(root / "cohn-kanade-images" / subject / sequence,
                   [f"{subject}_{sequence}_{i:08d}.png" for i in range(1, frames + 1)])
        if code is not None:  # most CK+ sequences have no label file: they are left out
            (root / "Emotion" / subject / sequence).mkdir(parents=True)
            (root / "Emotion" / subject / sequence / f"{subject}_{sequence}_{frames:08d}_emotion.txt").write_text(
                f"   {code:.7e}\n")
    faces = load_dataset(root, image_size=16, emotions="disgust,happiness,neutral")
    assert faces.counts() == {"disgust": 3, "happiness": 3, "neutral": 2}
    emotion_of = dict(zip(faces.names, np.array(faces.emotions)[faces.labels]))
    assert emotion_of["cohn-kanade-images/S005/001/S005_001_00000001.png"] == "neutral"
    assert [emotion_of[f"cohn-kanade-images/S005/001/S005_001_{i:08d}.png"] for i in (4, 5, 6)] == ["disgust"] * 3
    assert "cohn-kanade-images/S005/001/S005_001_00000002.png" not in emotion_of
    assert sorted(set(faces.subjects.tolist())) == ["S005", "S010"]
    (root / "Emotion" / "S010" / "009").mkdir()
    (root / "Emotion" / "S010" / "009" / "S010_009_00000009_emotion.txt").write_text("5\n")
    with pytest.raises(FersynError, match=r"S010_009_00000009_emotion.txt: a label file with no image"):
        load_dataset(root)


def test_class_folders_deeper_down_take_their_subject_from_the_folder_above(tmp_path):
    root = tmp_path / "oulu"
    for person in ("P001", "P002", "P003"):
        for emotion, frames in (("Anger", 2), ("Happiness", 3)):
            write_flat(root / "VL" / person / emotion, [f"{i:03d}.jpeg" for i in range(frames)])
    faces = load_dataset(root, image_size=16, emotions="anger,happiness")
    assert faces.counts() == {"anger": 6, "happiness": 9}
    assert sorted(set(faces.subjects.tolist())) == ["P001", "P002", "P003"]
    assert faces.subjects[list(faces.names).index("VL/P002/Anger/001.jpeg")] == "P002"
    assert split_dataset(faces, seed=0).method == "subject-disjoint"
