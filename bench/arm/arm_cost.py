#!/usr/bin/env python3
"""arm_cost.py - executed aarch64 instructions per inference of one trim model, per engine step
and per function, and llvm-mca cycle estimates for an in-order (Cortex-A53) and an out-of-order
(Cortex-A72) core, all from qemu-aarch64 -cpu cortex-a53 runs with the TCG plugin
qemu_tb_profile.c (this folder).

    bench/arm/arm_cost.py MODEL [--compare BASE_MODEL] [--build DIR] [--no-mca] [--json FILE]

MODEL is what bench/latency takes: a .model file (dense or pruned) or a built-in name (sicknet,
mobilenet_v1_1.0_224, ...; random weights). The aarch64 latency binary must be static (qemu-user
only knows the main executable's symbols): `make arm` builds build-arm-static/bin/latency.

How the figures are made (docs/inference.md says what they can and cannot tell about a board):
- Per inference: latency runs the model --runs R and --runs R+K (no warm-up, one thread, step
  profiling on) under qemu; every counter of the second run minus the first, divided by K.
  Start-up (loading, packing, the first run's lazy initialisation) is the same in both and
  cancels. Guest instruction counts are deterministic at one thread, so one pair of runs is enough.
- Per step: with profiling on the engine calls omp_get_wtime() before and after each step; the
  plugin records the running total at each call (marker=omp_get_wtime), and the step's count is
  the difference over the last inference (the input conversion: from its start to the first step's). It includes a few dozen instructions of the timing
  calls themselves (shown as "timing" in the function table and subtracted from the total).
- Per function: every translation block's execution count times its length, grouped by symbol.
- Cycles: each hot block (the blocks that make up 99.5% of the instructions) is disassembled from
  its raw words (llvm-mc) and given to llvm-mca, which reports the steady-state cycles per
  iteration of the block repeated back to back; the estimate is the sum over blocks of
  executions x cycles per iteration, the remaining cold instructions at the hot blocks' average.
"""
import argparse
import collections
import json
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SYSROOT = "/usr/aarch64-linux-gnu"
TIMING_SYMBOLS = ("omp_get_wtime", "clock_gettime", "__clock_gettime", "thread_cpu_seconds", "record",
                  "__kernel_clock_gettime", "__clock_gettime64")


def fail(msg):
    sys.exit("arm_cost.py: " + msg)


def build_plugin(work):
    lib = os.path.join(work, "libtbprofile.so")
    subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-o", lib, os.path.join(HERE, "qemu_tb_profile.c")], check=True)
    return lib


def latency_cmd(latency, model, runs):
    return [latency, model, "--threads", "1", "--warmup", "0", "--runs", str(runs), "--layers", "--json"]


def peer_cmd(peer, model, runs):
    return [peer, model, "--only", "xnnpack", "--threads", "1", "--warmup", "0", "--runs", str(runs)]


def run_profiled(target, plugin, model, runs, work, tag, libpath=""):
    out = os.path.join(work, f"{tag}.{runs}.prof")
    cmd = (["qemu-aarch64", "-cpu", "cortex-a53", "-L", SYSROOT] + (["-E", f"LD_LIBRARY_PATH={libpath}"] if libpath else [])
           + ["-plugin", f"{plugin},out={out},marker=omp_get_wtime"] + target(model, runs))
    p = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    if p.returncode != 0:
        fail(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr.strip()}")
    info = json.loads(p.stdout.strip().splitlines()[-1])
    blocks, marks, total = {}, [], 0
    with open(out) as f:
        for line in f:
            parts = line.split()
            if parts[0] == "total":
                total = int(parts[1])
            elif parts[0] == "M":
                marks.append(int(parts[2]))
            elif parts[0] == "T":
                key = (int(parts[1], 16), int(parts[2]))
                blocks[key] = dict(count=int(parts[3]), fma=int(parts[4]), loads=int(parts[5]), stores=int(parts[6]),
                                   symbol=parts[7], words=parts[8] if len(parts) > 8 else "")
    return info, blocks, marks, total


def demangle(names):
    names = list(names)
    try:
        p = subprocess.run(["c++filt"], input="\n".join(names), capture_output=True, text=True, check=True)
        out = p.stdout.splitlines()
        if len(out) == len(names):
            return dict(zip(names, out))
    except (OSError, subprocess.CalledProcessError):
        pass
    return {n: n for n in names}


def short_name(demangled):
    """trim::kernels::(anonymous namespace)::gemm_tile<8>(int, ...) -> gemm_tile<8>"""
    s = re.sub(r"\(anonymous namespace\)::", "", demangled)
    depth, cut = 0, len(s)
    for i, ch in enumerate(s):  # drop the argument list (first '(' at template depth 0)
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        elif ch == "(" and depth == 0:
            cut = i
            break
    s = s[:cut]
    depth, start = 0, 0
    for i, ch in enumerate(s):  # drop a return type ("void gemm_tile<8>")
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        elif ch == " " and depth == 0:
            start = i + 1
    s = s[start:]
    return re.sub(r"^(trim::kernels::|trim::)", "", s)


def mca_cycles(blocks, cpu, work):
    """{key: cycles per iteration} for the given blocks {key: hexwords} from one llvm-mca run."""
    def disassemble(words):
        data = " ".join("0x%s 0x%s 0x%s 0x%s" % (w[6:8], w[4:6], w[2:4], w[0:2])
                        for w in (words[i:i + 8] for i in range(0, len(words), 8)))
        p = subprocess.run(["llvm-mc-14", "--disassemble", "-triple=aarch64", "-mattr=+neon,+fp-armv8"], input=data,
                           capture_output=True, text=True)
        return [l.strip() for l in p.stdout.splitlines() if l.strip() and not l.strip().startswith(".")]

    items = [(k, w) for k, w in blocks.items() if w]
    # One llvm-mc run for all blocks (one line per word); per block only if some word did not decode.
    every = disassemble("".join(w for _, w in items))
    per_block = []
    if len(every) == sum(len(w) // 8 for _, w in items):
        pos = 0
        for k, w in items:
            per_block.append((k, every[pos:pos + len(w) // 8]))
            pos += len(w) // 8
    else:
        per_block = [(k, disassemble(w)) for k, w in items]
    asm_lines, keys = [], []
    for key, insns in per_block:
        # Calls: llvm-mca would charge 100 cycles for the callee; the callee's own blocks are counted
        # where they run, so a call is modelled as a plain branch.
        insns = [re.sub(r"^(bl|blr)\b.*", "nop", i) for i in insns]
        if not insns:
            continue
        keys.append(key)
        asm_lines += [f"# LLVM-MCA-BEGIN b{len(keys) - 1}"] + insns + ["# LLVM-MCA-END"]
    if not keys:
        return {}
    src = os.path.join(work, f"blocks.{cpu}.s")
    with open(src, "w") as f:
        f.write("\n".join(asm_lines) + "\n")
    p = subprocess.run(["llvm-mca-14", "-mtriple=aarch64", f"-mcpu={cpu}", "-iterations=200", "-summary-view",
                        "-instruction-info=0", "-resource-pressure=0", src], capture_output=True, text=True)
    if p.returncode != 0:
        fail(f"llvm-mca-14 -mcpu={cpu} failed:\n{p.stderr[-2000:]}")
    out = {}
    for m in re.finditer(r"Code Region - b(\d+)\s+Iterations:\s+(\d+)\s+Instructions:\s+\d+\s+Total Cycles:\s+(\d+)",
                         p.stdout):
        out[keys[int(m.group(1))]] = int(m.group(3)) / int(m.group(2))
    return out


def profile(target, plugin, model, runs, extra, work, tag, mca, libpath="", engine="trim"):
    info_a, blocks_a, marks_a, total_a = run_profiled(target, plugin, model, runs, work, tag, libpath)
    info_b, blocks_b, marks_b, total_b = run_profiled(target, plugin, model, runs + extra, work, tag, libpath)
    steps = info_b.get("layers", [])
    # Per inference the engine calls omp_get_wtime() once before the NCHW -> NHWC conversion and
    # twice around every step: 2 * steps + 1 markers.
    per_run = 2 * len(steps) + 1
    if engine != "trim":
        step_insns = [0]
    elif len(marks_b) - len(marks_a) != per_run * extra:
        fail(f"{model}: {len(marks_b) - len(marks_a)} step markers for {extra} inference(s) of {len(steps)} steps "
             f"(expected {per_run} each: is the binary static and the engine profiling with omp_get_wtime?)")
    else:
        last = marks_b[-per_run:]
        step_insns = [last[1] - last[0]] + [last[2 + 2 * i] - last[1 + 2 * i] for i in range(len(steps))]

    names = demangle({b["symbol"] for b in blocks_b.values()})
    per_block = {}
    for key, b in blocks_b.items():
        d = b["count"] - blocks_a.get(key, {}).get("count", 0)
        if d:
            per_block[key] = dict(b, execs=d / extra, n=key[1])
    total = (total_b - total_a) / extra
    funcs = collections.defaultdict(lambda: dict(insns=0.0, fma=0.0, loads=0.0, stores=0.0))
    for b in per_block.values():
        name = short_name(names.get(b["symbol"], b["symbol"]))
        if any(name == t or name.endswith("::" + t) for t in TIMING_SYMBOLS):
            name = "timing (omp_get_wtime, clock_gettime, record)"
        f = funcs[name]
        f["insns"] += b["execs"] * b["n"]
        f["fma"] += b["execs"] * b["fma"]
        f["loads"] += b["execs"] * b["loads"]
        f["stores"] += b["execs"] * b["stores"]
    timing = funcs.get("timing (omp_get_wtime, clock_gettime, record)", {}).get("insns", 0.0)
    result = dict(model=model, engine=engine, macs=info_b["macs"], isa=info_b.get("isa", engine), insns=total - timing,
                  timing_insns=timing,
                  steps=([dict(name="input NCHW->NHWC", kind="convert", macs=0, insns=step_insns[0])] +
                         [dict(name=s["name"], kind=s["kind"], macs=s["macs"], insns=step_insns[i + 1])
                          for i, s in enumerate(steps)]) if engine == "trim" else [],
                  functions=dict(sorted(funcs.items(), key=lambda kv: -kv[1]["insns"])))
    if mca:
        hot, acc = [], 0.0
        for key, b in sorted(per_block.items(), key=lambda kv: -kv[1]["execs"] * kv[1]["n"]):
            if acc >= 0.995 * total or len(hot) >= 3000:
                break
            hot.append(key)
            acc += b["execs"] * b["n"]
        result["cycles"] = {}
        for cpu in ("cortex-a53", "cortex-a72"):
            cyc = mca_cycles({k: per_block[k]["words"] for k in hot}, cpu, work)
            covered = sum(per_block[k]["execs"] * per_block[k]["n"] for k in cyc)
            est = sum(per_block[k]["execs"] * c for k, c in cyc.items())
            scale = (total / covered) if covered else 0.0  # cold instructions at the hot blocks' cycles per instruction
            fcyc = collections.defaultdict(float)
            for k, c in cyc.items():
                fcyc[short_name(names.get(per_block[k]["symbol"], per_block[k]["symbol"]))] += per_block[k]["execs"] * c
            result["cycles"][cpu] = dict(cycles=est * scale, coverage=covered / total if total else 0.0,
                                         functions=dict(fcyc))
    return result


def fmt_m(x):
    return f"{x / 1e6:10.2f}M"


def report(r, top):
    print(f"{r['model']}  ({r['engine']}, {r['isa']}, qemu-aarch64 -cpu cortex-a53, 1 thread, per inference, start-up excluded)")
    print(f"  instructions {fmt_m(r['insns'])}   MACs {r['macs'] / 1e6:.2f}M   {r['insns'] / max(1, r['macs']):.3f} insn/MAC"
          f"   (timing markers' own {r['timing_insns']:.0f} not included)")
    for cpu, c in r.get("cycles", {}).items():
        print(f"  llvm-mca {cpu:10s} {c['cycles'] / 1e6:10.2f}M cycles  ({c['cycles'] / r['insns']:.2f} cycles/insn; "
              f"blocks analysed cover {100 * c['coverage']:.1f}% of instructions)")
    if r["steps"]:
        print(f"  {'step':48s} {'kind':12s} {'MACs':>10s} {'insns':>11s} {'%':>6s} {'insn/MAC':>9s}")
    for s in r["steps"]:
        print(f"  {s['name'][:48]:48s} {s['kind']:12s} {s['macs'] / 1e6:9.2f}M {fmt_m(s['insns'])} "
              f"{100 * s['insns'] / r['insns']:5.1f}% {s['insns'] / s['macs'] if s['macs'] else 0:9.3f}")
    a53 = r.get("cycles", {}).get("cortex-a53", {}).get("functions", {})
    a72 = r.get("cycles", {}).get("cortex-a72", {}).get("functions", {})
    print(f"  {'function':48s} {'insns':>11s} {'%':>6s} {'FMA dens':>8s} {'loads':>10s} {'stores':>10s}"
          + (f" {'A53 cyc':>10s} {'A72 cyc':>10s}" if a53 else ""))
    for name, f in list(r["functions"].items())[:top]:
        line = (f"  {name[:48]:48s} {fmt_m(f['insns'])} {100 * f['insns'] / r['insns']:5.1f}% "
                f"{f['fma'] / f['insns'] if f['insns'] else 0:8.2f} {fmt_m(f['loads'])} {fmt_m(f['stores'])}")
        if a53:
            line += f" {fmt_m(a53.get(name, 0))} {fmt_m(a72.get(name, 0))}"
        print(line)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("--compare", help="a second model (e.g. the dense one): ratios of its counts to MODEL's")
    ap.add_argument("--build", default=os.path.join(REPO, "build-arm-static"), help="static aarch64 build (make arm)")
    ap.add_argument("--runs", type=int, default=1, help="inferences in the first run (the second runs --extra more)")
    ap.add_argument("--extra", type=int, default=1)
    ap.add_argument("--top", type=int, default=15, help="functions to list")
    ap.add_argument("--peer", action="store_true",
                    help="also count XNNPACK on the same shapes (bench/peers/xnnpack_peer from --peer-build)")
    ap.add_argument("--peer-build", default=os.path.join(REPO, "build-arm"),
                    help="dynamic aarch64 build configured with -DXNNPACK_ROOT (make arm-peer)")
    ap.add_argument("--no-mca", action="store_true", help="skip the llvm-mca cycle estimates")
    ap.add_argument("--json", help="also write the figures to this file")
    a = ap.parse_args()
    latency = os.path.join(a.build, "bin", "latency")
    if not os.path.isfile(latency):
        fail(f"{latency} not found: `make arm` builds the static aarch64 tools (or pass --build)")
    if subprocess.run(["file", latency], capture_output=True, text=True).stdout.find("statically linked") < 0:
        fail(f"{latency} is not statically linked: qemu-user sees only the executable's own symbols (make arm)")
    if a.runs < 1 or a.extra < 1:
        fail("--runs and --extra must be >= 1")
    with tempfile.TemporaryDirectory(prefix="trim-armcost.") as work:
        plugin = build_plugin(work)
        mca = not a.no_mca
        trim_cmd = lambda model, runs: latency_cmd(latency, model, runs)
        r = profile(trim_cmd, plugin, a.model, a.runs, a.extra, work, "m", mca)
        report(r, a.top)
        out = dict(model=r)
        if a.compare:
            b = profile(trim_cmd, plugin, a.compare, a.runs, a.extra, work, "c", mca)
            print()
            report(b, a.top)
            print(f"\n  {a.compare} / {a.model}: MACs {b['macs'] / r['macs']:.2f}x, instructions "
                  f"{b['insns'] / r['insns']:.2f}x" +
                  "".join(f", {cpu} cycles {b['cycles'][cpu]['cycles'] / r['cycles'][cpu]['cycles']:.2f}x"
                          for cpu in r.get("cycles", {})))
            names = list(dict.fromkeys(list(b["functions"])[:a.top] + list(r["functions"])[:a.top]))
            print(f"  {'function':48s} {'base insns':>11s} {'model insns':>11s} {'ratio':>7s}")
            for n in names:
                x, y = b["functions"].get(n, {}).get("insns", 0), r["functions"].get(n, {}).get("insns", 0)
                print(f"  {n[:48]:48s} {fmt_m(x)} {fmt_m(y)} {x / y if y else float('inf'):7.2f}")
            out["compare"] = b
        if a.peer:
            peer = os.path.join(a.peer_build, "bin", "xnnpack_peer")
            libdir = os.path.join(REPO, "build-arm-sysroot", "usr", "lib", "aarch64-linux-gnu")
            if not os.path.isfile(peer):
                print(f"\n  XNNPACK peer skipped: {peer} not built (make arm-peer: needs the arm64 libxnnpack "
                      "packages, fetched by cmake/fetch-arm64-debs.sh)")
            else:
                x = profile(lambda model, runs: peer_cmd(peer, model, runs), plugin, a.model, a.runs, a.extra, work,
                            "x", mca, libpath=libdir, engine="xnnpack")
                print()
                report(x, 5)
                print(f"\n  trim / XNNPACK on {a.model}: instructions {r['insns'] / x['insns']:.3f}" +
                      "".join(f", {cpu} cycles {r['cycles'][cpu]['cycles'] / x['cycles'][cpu]['cycles']:.3f}"
                              for cpu in r.get("cycles", {})))
                out["xnnpack"] = x
        if a.json:
            tmp = a.json + ".tmp"
            with open(tmp, "w") as f:
                json.dump(out, f, indent=1)
            os.replace(tmp, a.json)


if __name__ == "__main__":
    main()
