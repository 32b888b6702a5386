"""The performance targets (from the engine and engine-speed issues) and the verdict, met or
not, of one bench file's numbers on each target it can check."""
from __future__ import annotations


TARGETS = """\
Targets (from the engine issue), checked against the numbers above:
- CPU, 2 cores: single-model trainer >= 2.5x the reference loop's samples/s; many-models path at
  K=16 at least as fast per model as the single-model trainer.
- CPU, 2 cores (engine-speed issue): the bank trainer (many-models loop) >= 1.5x the anchor, plain
  single-thread PyTorch processes with contiguous tensors, one per core (median of alternating
  rounds).
- Contended CPU: default settings within 2x of their idle speed while another process spins a core.
- GPU: one model, batch 128, 100 epochs of 50,000 images <= 10 s; 64 models x 100 epochs over
  25,000 images each <= 60 s.
"""


def verdicts(r: dict) -> list[str]:
    """Each target of TARGETS that this bench file can check, met or not, from its numbers."""
    v, out = r["variants"], []

    def ok(flag: bool) -> str:
        return "met" if flag else "NOT met"
    if r["device"]["torch_device"] == "cpu":
        one, serial = v["single_b128"], v.get("single_b128_1worker", {})
        paired = r.get("paired", {})
        if "median_ratio" in paired:  # alternating rounds: the robust number
            out.append(f"single-model trainer >= 2.5x reference: {ok(paired['median_ratio'] >= 2.5)} "
                       f"(median of {paired['rounds']} alternating rounds {paired['median_ratio']:.2f}x, "
                       f"range {min(paired['ratios']):.2f}-{max(paired['ratios']):.2f}; in the table "
                       f"above {one['ratio_to_reference']:.2f}x with {one.get('cpu_workers', '?')} "
                       f"workers, {serial.get('ratio_to_reference', float('nan')):.2f}x with 1)")
        else:
            out.append(f"single-model trainer >= 2.5x reference: {ok(one['ratio_to_reference'] >= 2.5)} "
                       f"({one['ratio_to_reference']:.2f}x with {one.get('cpu_workers', '?')} workers, "
                       f"the default; {serial.get('ratio_to_reference', float('nan')):.2f}x with 1)")
        k16 = v.get("many_k16_loop")  # strategy auto on CPU
        if k16 and "error" not in k16:
            out.append(f"many models at K=16 (auto = loop) as fast per model as the single-model "
                       f"trainer, within 5% (run-to-run noise): "
                       f"{ok(k16['samples_per_s'] >= 0.95 * one['samples_per_s'])} "
                       f"({k16['samples_per_s']:,.0f} vs {one['samples_per_s']:,.0f} samples/s)")
        bank = r.get("bank_rounds", {})
        if "median_ratio_to_anchor" in bank:
            ratio = bank["median_ratio_to_anchor"]["bank_channels_last"]
            out.append(f"bank trainer >= 1.5x the anchor (plain single-thread processes, "
                       f"contiguous, one per core): {ok(ratio >= 1.5)} (median of "
                       f"{bank['rounds']} alternating rounds {ratio:.2f}x; contiguous layout "
                       f"{bank['median_ratio_to_anchor']['bank_contiguous']:.2f}x)")
        if "contended" in r:
            slow = r["contended"]["project_default_slowdown"]
            out.append(f"contended within 2x of idle: {ok(slow <= 2)} (idle / contended speed {slow:.2f})")
    elif "full_gpu" in r and "error" not in r["full_gpu"]:
        f = r["full_gpu"]
        out.append(f"one model x 100 epochs (batch 128, CUDA graph) <= 10 s: "
                   f"{ok(f['single_100_epochs_s'] <= 10)} "
                   f"({f['single_100_epochs_s']:.1f} s)")
        how = f.get("many_64_fastest", "vmap")
        scaled = (f" (timed over {f['epochs_timed']} epochs, scaled to 100)"
                  if f.get("epochs_timed", 100) != 100 else "")
        out.append(f"64 models x 100 epochs over 25,000 images each <= 60 s: "
                   f"{ok(f['many_64_models_100_epochs_s'] <= 60)} "
                   f"({f['many_64_models_100_epochs_s']:.1f} s, fastest strategy: {how}{scaled})")

    return out
