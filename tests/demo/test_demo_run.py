"""`symcl demo --quick` end to end on the shipped data and pretrained models (the CI run of the main job)."""

import json
import re
import shlex
from pathlib import Path

import pytest

import symcl.demo.run as demo_run
from symcl.cli import main
from symcl.demo import run_demo
from symcl.demo.report import Section


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


def test_a_failing_part_keeps_the_report_of_the_parts_before_it(tmp_path, monkeypatch):
    def fine(out_dir, *, quick, seed, progress):
        return Section("first part", "ok")

    def broken(out_dir, *, quick, seed, progress):
        raise RuntimeError("part failed")

    monkeypatch.setattr(demo_run, "_runner", {"dna": fine, "crystal": broken}.__getitem__)
    with pytest.raises(RuntimeError, match="part failed"):
        run_demo(tmp_path, parts=("dna", "crystal"), progress=False)
    assert "## first part" in (tmp_path / "report.md").read_text()


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
