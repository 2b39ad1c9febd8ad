"""`symcl demo --quick` end to end on the shipped data and pretrained models (the CI run of the main job)."""

import json
import re
import shlex
from pathlib import Path

import pytest

import symcl.demo.run as demo_run
from symcl.cli import main
from symcl.demo import run_demo
from symcl.demo.report import Figure, Section, new_figure, save_figure
from symcl.errors import Terminated


def _metric(text: str, name: str) -> str:
    row = next(line for line in text.splitlines() if name in line)
    return row.split(" | ")[2]


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--quick", "--quiet", "--out", str(out)]) == 0
    return out


def test_quick_demo_writes_the_report_and_figures(quick_report):
    text = (quick_report / "report.md").read_text()
    for title in ("dna: strand-invariant", "crystal: defects", "protein: fast distances"):
        assert f"## {title}" in text
    figures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(figures) >= 6
    for figure in figures:
        assert (quick_report / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (quick_report / "report.html").read_text()
    assert page.count("data:image/png;base64,") == len(figures)
    assert "symcl demo --out DIR --quick" in text


def test_quick_demo_measures_what_it_claims(quick_report):
    text = (quick_report / "report.md").read_text()
    assert float(_metric(text, "max \\|emb(x) - emb(revcomp x)\\|, the fragments")) <= 1e-5
    spearman = float(_metric(text, "Spearman predicted vs Scoredist"))
    assert -1.0 <= spearman <= 1.0
    # Globins are close homologs: shared spaced k-mers rank their pairs like the alignments do.
    assert float(_metric(text, "spectrum route (no alignment, no training), Spearman")) > 0.9
    assert (quick_report / "crystal" / "sites.csv").exists()
    assert (quick_report / "protein" / "globins45_predicted.nwk").read_text().strip().endswith(";")
    assert (quick_report / "dna" / "fragments_1000bp.fa").read_text().startswith(">")


def _writing_part(title: str, text: str, stop: BaseException | None = None):
    """A stand-in demo part that writes ``<title>/data.txt`` and a figure, then returns or raises ``stop``."""

    def part(out_dir, *, quick, seed, progress):
        folder = out_dir / title
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "data.txt").write_text(text)
        figure, ax = new_figure(figsize=(2, 2))
        ax.set_title(text)
        save_figure(figure, folder / "figure.png")
        if stop is not None:
            raise stop
        return Section(title, text, figures=[Figure(f"{title}/figure.png", text)])

    return part


def _contents(directory: Path) -> dict[str, bytes]:
    return {
        path.relative_to(directory).as_posix(): path.read_bytes()
        for path in directory.rglob("*")
        if path.is_file() and not path.relative_to(directory).parts[0].startswith(".staging-")
    }


def _run_parts(out_dir, monkeypatch, runners: dict, *, check=True) -> int:
    monkeypatch.setattr(demo_run, "_runner", runners.__getitem__)
    status = main(["demo", "--quiet", "--out", str(out_dir), "--parts", *runners])
    assert not check or status == 0
    return status


@pytest.mark.parametrize(
    "stop, status, reason", [(KeyboardInterrupt(), 130, "interrupted"), (Terminated(), 143, "terminated")]
)
def test_an_interrupted_run_leaves_a_complete_earlier_report_as_it_was(
    tmp_path, monkeypatch, capsys, stop, status, reason
):
    _run_parts(
        tmp_path, monkeypatch, {"dna": _writing_part("dna", "old dna"), "crystal": _writing_part("crystal", "old")}
    )
    before = _contents(tmp_path)
    assert {"report.md", "report.html", "metrics.json", "dna/data.txt", "dna/figure.png"} <= before.keys()
    capsys.readouterr()

    runners = {"dna": _writing_part("dna", "new dna"), "crystal": _writing_part("crystal", "new", stop=stop)}
    assert _run_parts(tmp_path, monkeypatch, runners, check=False) == status

    assert _contents(tmp_path) == before  # the report and the files it shows are the earlier run's, byte for byte
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if line.startswith("symcl: warning:")]
    assert len(warnings) == 1 and f"{tmp_path} is as it was" in warnings[0] and f"({reason})" in warnings[0]
    staged = Path(warnings[0].rsplit(" is ", 1)[1])
    assert staged.parent.parent == tmp_path and staged.name == "report.html"
    partial = (staged.parent / "report.md").read_text()
    assert partial.startswith("# symcl demo (incomplete)")
    assert f"Incomplete: part crystal missing ({reason})." in partial and "## dna" in partial
    assert "Reproduce the whole report" not in partial
    assert (staged.parent / "dna" / "data.txt").read_text() == "new dna"


def test_a_complete_run_replaces_the_earlier_report_and_files(tmp_path, monkeypatch, capsys):
    _run_parts(
        tmp_path, monkeypatch, {"dna": _writing_part("dna", "old dna"), "crystal": _writing_part("crystal", "old")}
    )
    old_page = (tmp_path / "report.html").read_bytes()
    _run_parts(
        tmp_path, monkeypatch, {"dna": _writing_part("dna", "new dna"), "crystal": _writing_part("crystal", "new")}
    )
    assert (tmp_path / "dna" / "data.txt").read_text() == "new dna"
    assert (tmp_path / "crystal" / "data.txt").read_text() == "new"
    page = (tmp_path / "report.html").read_text()
    assert page.encode() != old_page and "new dna" in page and "incomplete" not in page
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging folder left
    assert "symcl: warning:" not in capsys.readouterr().err


def test_a_failing_part_keeps_the_report_of_the_parts_before_it_beside_the_output(tmp_path, monkeypatch):
    runners = {
        "dna": _writing_part("dna", "ok"),
        "crystal": _writing_part("crystal", "no", RuntimeError("part failed")),
    }
    monkeypatch.setattr(demo_run, "_runner", runners.__getitem__)
    with pytest.raises(RuntimeError, match="part failed"), pytest.warns(UserWarning, match="is as it was") as caught:
        run_demo(tmp_path, parts=("dna", "crystal"), progress=False)
    assert not (tmp_path / "report.md").exists() and not (tmp_path / "dna").exists()
    staged = Path(str(caught[0].message).rsplit(" is ", 1)[1]).parent
    text = (staged / "report.md").read_text()
    assert "## dna" in text and "Incomplete: part crystal missing (failed: RuntimeError: part failed)." in text


def test_a_run_stopped_before_any_part_finished_leaves_no_staging_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(demo_run, "_runner", lambda name: _writing_part(name, "x", KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        run_demo(tmp_path, parts=("dna",), progress=False)
    assert list(tmp_path.iterdir()) == []


def test_the_reproduce_lines_name_the_output_folder_not_the_staging_folder(tmp_path, monkeypatch):
    def part(out_dir, *, quick, seed, progress):
        (out_dir / "dna").mkdir()
        (out_dir / "dna" / "a b.fa").write_text(">x\nACGT\n")
        return Section("dna", "ok", commands=[shlex.join(["symcl", "dna", "embed", str(out_dir / "dna" / "a b.fa")])])

    out = tmp_path / "my out"
    monkeypatch.setattr(demo_run, "_runner", lambda name: part)
    run_demo(out, parts=("dna",), progress=False)
    record = json.loads((out / "metrics.json").read_text())
    assert record["sections"][0]["commands"] == [shlex.join(["symcl", "dna", "embed", str(out / "dna" / "a b.fa")])]


def test_unknown_part_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="'parts' parameter of run_demo.*'rna'"):
        run_demo(tmp_path, parts=("rna",))


def test_output_path_that_is_a_file_is_one_line_error(tmp_path, capsys):
    target = tmp_path / "report"
    target.write_text("not a directory")
    with pytest.raises(SystemExit) as exit_info:  # refused while parsing, before any work
        main(["demo", "--quick", "--out", str(target)])
    assert exit_info.value.code == 2
    assert "is a file, not a folder" in capsys.readouterr().err


def _reproduce_lines(text: str, prefix: str) -> list[str]:
    block = text.split("Reproduce:", 1)[1]
    return [line for line in block.splitlines() if line.startswith(prefix)]


def _ari_of_bins(fasta, bins_tsv) -> float:
    from sklearn.metrics import adjusted_rand_score

    genome = {}
    for line in fasta.read_text().splitlines():
        if line.startswith(">"):
            fragment_id, name = line[1:].split(" ", 1)
            genome[fragment_id] = name
    rows = [line.split("\t") for line in bins_tsv.read_text().splitlines()[1:]]
    return adjusted_rand_score([genome[contig] for contig, _ in rows], [b for _, b in rows])


@pytest.mark.parametrize("features, column", [("tnf", "TNF "), ("embedding", "")])
def test_the_dna_reproduce_lines_give_the_reported_ari(quick_report, tmp_path, features, column):
    text = (quick_report / "report.md").read_text()
    lines = [
        line for line in _reproduce_lines(text, "symcl dna bin") if ("--features tnf" in line) == (features == "tnf")
    ]
    assert len(lines) == 1
    args = shlex.split(lines[0])[1:]
    fasta = Path(args[2])
    args[args.index("-o") + 1] = str(tmp_path / "bins.tsv")
    assert main([*args, "--quiet"]) == 0
    row = next(line for line in text.splitlines() if "binning ARI, 1000 bp" in line).strip(" |").split(" | ")
    reported = row[2] if not column else row[3].removeprefix(column)
    assert f"{_ari_of_bins(fasta, tmp_path / 'bins.tsv'):.3f}" == reported


def test_the_quick_micrograph_is_mostly_interior_and_the_report_says_how_much_is_edge(quick_report):
    rows = (quick_report / "crystal" / "sites.csv").read_text().splitlines()[1:]
    edge = sum(row.split(",")[-1] == "1" for row in rows)
    assert edge < len(rows) / 2  # most patches see no padding
    text = (quick_report / "report.md").read_text()
    assert f"{edge} of the {len(rows)} sites ({100 * edge / len(rows):.0f} %)" in text
    assert re.search(r"the 10 most anomalous interior sites: \d+ defects and \d+ other columns", text)


def test_metrics_json_holds_every_number_of_the_report(quick_report):
    record = json.loads((quick_report / "metrics.json").read_text())
    text = (quick_report / "report.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| ") and " | " in line][1:]  # below the header
    shown = [[cell.replace("\\|", "|") for cell in re.split(r" (?<!\\)\| ", row.strip("| "))] for row in rows]
    listed = [[s["title"], m["name"], m["value"], m["reference"]] for s in record["sections"] for m in s["metrics"]]
    assert [row + [""] * (4 - len(row)) for row in shown] == listed
    for metric in (m for s in record["sections"] for m in s["metrics"]):
        if metric["number"] is not None:
            assert metric["number"] == float(metric["value"])
    assert record["sections"][1]["details"]["edge_sites"] < record["sections"][1]["details"]["sites"]


def test_every_file_a_reproduce_line_writes_is_in_the_output(quick_report):
    record = json.loads((quick_report / "metrics.json").read_text())
    for command in (c for s in record["sections"] for c in s["commands"]):
        args = shlex.split(command)
        assert Path(args[args.index("-o") + 1]).exists(), command


def test_files_of_an_earlier_run_are_kept_and_named_in_one_warning(tmp_path, monkeypatch, capsys):
    def part(out_dir, *, quick, seed, progress):
        (out_dir / "dna").mkdir(exist_ok=True)
        (out_dir / "dna" / "fragments_1000bp.fa").write_text(">new\nACGT\n")
        return Section("first part", "ok")

    (tmp_path / "dna").mkdir()
    (tmp_path / "dna" / "fragments_500bp.fa").write_text(">old\nACGT\n")
    monkeypatch.setattr(demo_run, "_runner", lambda name: part)
    assert main(["demo", "--quiet", "--out", str(tmp_path), "--parts", "dna"]) == 0
    assert (tmp_path / "dna" / "fragments_500bp.fa").exists()
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("symcl: warning:")]
    assert len(warnings) == 1 and "1 file(s) this run did not write" in warnings[0]
    assert "dna/fragments_500bp.fa" in warnings[0]
    record = json.loads((tmp_path / "metrics.json").read_text())
    assert "dna/fragments_1000bp.fa" in record["files"] and "dna/fragments_500bp.fa" not in record["files"]
    assert "dna/fragments_500bp.fa" in (tmp_path / "report.md").read_text()


def test_the_time_ratio_agrees_with_the_times_shown(quick_report):
    row = next(line for line in (quick_report / "report.md").read_text().splitlines() if "all-vs-all time" in line)
    embedded, aligned, ratio = re.search(r"([\d.]+) s embedded \| ([\d.]+) s aligned \((\d+)x\)", row).groups()
    assert round(float(aligned) / float(embedded)) == int(ratio)


def test_the_invariance_rows_say_what_they_measured_on(quick_report):
    text = (quick_report / "report.md").read_text()
    assert _metric(text, "max \\|emb(x) - emb(revcomp x)\\|, the fragments")
    for row in (line for line in text.splitlines() if line.startswith("| crystal") and "lattice-translated" in line):
        assert "MoS2 only, 128 pairs; README's bench_crystal row (every material) is the one that counts" in row


def test_the_worst_strand_invariance_of_several_lengths_is_reported():
    from symcl.demo.dna_part import _worst_invariance

    scores = [
        {"max_abs_diff": 0.0, "matched": 1.0, "unrelated": 0.2},
        {"max_abs_diff": 3e-6, "matched": 0.99, "unrelated": 0.3},
    ]
    assert _worst_invariance(scores) == {"max_abs_diff": 3e-6, "matched": 0.99, "unrelated": 0.3}


@pytest.mark.parametrize("n, text", [(1, "1 CPU thread"), (2, "2 CPU threads")])
def test_threads_are_counted_in_words(n, text):
    assert demo_run._threads(n) == text


def test_progress_into_a_log_file_has_no_cursor_codes(tmp_path, monkeypatch, capsys):
    from tqdm.auto import tqdm

    def part(out_dir, *, quick, seed, progress):
        for _ in tqdm(range(3), desc="inner", disable=not progress):  # a part's own bar
            pass
        return Section("a part", "ok")

    monkeypatch.setattr(demo_run, "_runner", lambda name: part)
    run_demo(tmp_path, parts=("dna", "crystal"), progress=True)
    err = capsys.readouterr().err
    assert "inner" in err and "\x1b[A" not in err
    assert "symcl demo: part 2/2, crystal" in err
