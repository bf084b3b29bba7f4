#!/usr/bin/python3
"""compare.py - trim's latency against PyTorch and ONNX Runtime on the same architectures.

For each model (a trim NAME.model file, so pruned models too, or a built-in name that
`latency --save` writes out) this builds the network in PyTorch from the description and
weights (trim_model.py), freezes it with torch.jit.optimize_for_inference, exports it to ONNX
(torch.onnx, into a temporary folder) for ONNX Runtime (onnxruntime-node, ort_worker.js), and
starts trim's `latency --serve`. All three run in this one process tree and take turns: each
round times a block of runs per engine, the order rotating from round to round, with a short
pause between blocks so the previous engine's spinning threads have gone to sleep. A noisy
patch of the shared machine therefore hits every engine alike. The outputs of the three are
checked against each other first (same weights, same input).

    /usr/bin/python3 bench/peers/compare.py                       # the default models, 1 and 2 threads
    /usr/bin/python3 bench/peers/compare.py runs/pruned/model.model --threads 1 --rounds 15

Peers that are missing (python3-torch, node, onnxruntime-node) are skipped with a message.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DEFAULT_MODELS = ["mobilenet_v1_1.0_224", "mobilenet_v1_0.5_224", "mobilenet_v1_0.25_224", "sicknet"]


class Worker:
    """A child speaking the `latency --serve` protocol: one command line in, one JSON line out."""

    def __init__(self, name, argv, env=None):
        self.name = name
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, bufsize=1)
        hello = self.read()
        if not hello.get("ready"):
            raise RuntimeError(f"{name}: {hello.get('error', hello)}")
        self.hello = hello

    def read(self):
        line = self.p.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.name}: worker exited (status {self.p.wait()})")
        return json.loads(line)

    def ask(self, cmd):
        self.p.stdin.write(cmd + "\n")
        self.p.stdin.flush()
        r = self.read()
        if "error" in r:
            raise RuntimeError(f"{self.name}: {r['error']}")
        return r

    def run(self, n):
        """Wall ms and process CPU ms of n runs."""
        r = self.ask(f"run {n}")
        return r["ms"], r.get("cpu_ms", [float("nan")] * n)

    def output(self):
        return self.ask("output")["output"]

    def close(self):
        try:
            self.p.stdin.write("quit\n")
            self.p.stdin.flush()
            self.p.wait(timeout=10)
        except Exception:
            self.p.kill()


class TorchRunner:
    """PyTorch in this process, frozen for inference."""

    name = "pytorch"

    def __init__(self, torch, net, x, threads):
        self.torch = torch
        torch.set_num_threads(threads)
        with torch.no_grad():
            self.mod = torch.jit.optimize_for_inference(torch.jit.script(net.eval()))
        self.x = x

    def run(self, n):
        ms, cpu = [], []
        with self.torch.no_grad():
            for _ in range(n):
                c0, t0 = time.process_time(), time.perf_counter()
                self.mod(self.x)
                ms.append((time.perf_counter() - t0) * 1e3)
                cpu.append((time.process_time() - c0) * 1e3)
        return ms, cpu

    def output(self):
        with self.torch.no_grad():
            return self.mod(self.x).flatten().tolist()

    def close(self):
        pass


def max_rel_diff(a, b):
    scale = max(1.0, max(abs(v) for v in b))
    return max(abs(x - y) for x, y in zip(a, b)) / scale


def find_latency(path):
    for cand in [path, os.path.join(REPO, "build", "bin", "latency"), os.path.join(REPO, "bench", "latency")]:
        if cand and os.path.exists(cand):
            return cand
    sys.exit("compare.py: trim's latency binary not found (run `make`, or pass --latency PATH)")


def materialize(spec, latency, tmp):
    """A .model path for spec (a file already, or a built-in written by `latency --save`)."""
    if spec.endswith(".model"):
        return spec
    out = subprocess.run([latency, "--save", tmp, spec], check=True, capture_output=True, text=True).stdout
    return out.strip().splitlines()[-1]


def compare_model(spec, args, latency, torch, trim_model, have_ort):
    tmp = tempfile.mkdtemp(prefix="trim-peers-")
    try:
        path = materialize(spec, latency, tmp)
        shape, net = trim_model.load(path)
        gen = torch.Generator().manual_seed(0)
        x = torch.rand((1,) + tuple(shape), generator=gen) * 2 - 1
        inp = os.path.join(tmp, "input.bin")
        x.numpy().astype("float32").tofile(inp)
        onnx_path = None
        if have_ort:
            onnx_path = os.path.join(tmp, "model.onnx")
            if args.onnx_exporter == "trim":  # trim's own exporter (tools/convert), as a user deploys it
                subprocess.run([os.path.join(os.path.dirname(latency), "convert"), path, onnx_path], check=True,
                               capture_output=True)
            else:
                with torch.no_grad():
                    torch.onnx.export(net, x, onnx_path, opset_version=13, input_names=["input"], output_names=["output"])
        results = []
        for threads in args.threads:
            env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS="1")
            runners = [Worker("trim", [latency, path, "--serve", "--threads", str(threads)], env=env)]
            runners[0].ask(f"input {inp}")
            runners.append(TorchRunner(torch, net, x, threads))
            if have_ort:
                runners.append(Worker("onnxruntime", ["node", os.path.join(HERE, "ort_worker.js"), onnx_path, str(threads), inp,
                                                      *map(str, shape)], env=env))
            try:
                ref = runners[1].output()
                diffs = {r.name: max_rel_diff(r.output(), ref) for r in runners if r is not runners[1]}
                for r in runners:
                    r.run(args.warmup)
                times = {r.name: [] for r in runners}
                cpu = {r.name: [] for r in runners}
                blocks = {r.name: [] for r in runners}  # per round: the block's median
                cpu_blocks = {r.name: [] for r in runners}
                for rnd in range(args.rounds):
                    k = rnd % len(runners)
                    for r in runners[k:] + runners[:k]:
                        time.sleep(args.pause)
                        ms, cms = r.run(args.runs)
                        times[r.name] += ms
                        cpu[r.name] += cms
                        blocks[r.name].append(statistics.median(ms))
                        cpu_blocks[r.name].append(statistics.median(cms))
            finally:
                for r in runners:
                    r.close()
            med = {n: statistics.median(v) for n, v in times.items()}
            res = {"model": spec, "threads": threads, "macs": runners[0].hello.get("macs"), "isa": runners[0].hello.get("isa"),
                   "median_ms": med, "min_ms": {n: min(v) for n, v in times.items()}, "runs": len(times["trim"]),
                   "output_rel_diff_vs_pytorch": diffs,
                   # CPU time of the engine's process per run (all its threads, spinning included):
                   # unlike wall time it does not grow while the OS runs other processes.
                   "cpu_median_ms": {n: statistics.median(v) for n, v in cpu.items()}}
            for n in med:
                if n != "trim":
                    res[f"trim_over_{n}"] = med["trim"] / med[n]
                    # Paired: the ratio of the two engines' blocks within each round (taken
                    # seconds apart), then the median over rounds; slow drifts of the machine's
                    # load cancel out of it.
                    res[f"trim_over_{n}_paired"] = statistics.median(
                        a / b for a, b in zip(blocks["trim"], blocks[n]))
                    res[f"trim_over_{n}_cpu_paired"] = statistics.median(
                        a / b for a, b in zip(cpu_blocks["trim"], cpu_blocks[n]))
            results.append(res)
            mn = res["min_ms"]
            line = f"{spec:24s} {threads} thr  trim {med['trim']:8.3f} ms (min {mn['trim']:.3f})"
            for n in ("pytorch", "onnxruntime"):
                if n in med:
                    line += (f" | {n} {med[n]:8.3f} ms (min {mn[n]:.3f}) ratio {med['trim'] / med[n]:.3f}"
                             f" paired {res[f'trim_over_{n}_paired']:.3f}")
            line += f"  ({len(times['trim'])} runs each; outputs agree to {max(diffs.values()):.1e})"
            cm = res["cpu_median_ms"]
            line += f"\n{'':24s}       CPU ms per run: trim {cm['trim']:.3f}" + "".join(
                f" | {n} {cm[n]:.3f} ratio {res[f'trim_over_{n}_cpu_paired']:.3f}" for n in ("pytorch", "onnxruntime") if n in cm)
            print(line, flush=True)
        return results
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="*", default=DEFAULT_MODELS)
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--runs", type=int, default=3, help="timed runs per engine per round")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--pause", type=float, default=0.05, help="seconds between blocks (lets spinning threads sleep)")
    ap.add_argument("--latency", default="", help="trim's latency binary (default: build/bin/latency)")
    ap.add_argument("--json", default="", help="also write the results to this file")
    ap.add_argument("--onnx-exporter", choices=["torch", "trim"], default="torch",
                    help="who writes the ONNX file ONNX Runtime runs: torch.onnx from the PyTorch copy, or trim's tools/convert")
    args = ap.parse_args()
    args.threads = [int(t) for t in args.threads.split(",") if t]

    try:
        import torch
    except ImportError:
        print("compare.py: skipped: PyTorch is not importable (Debian: apt-get install python3-torch; run with /usr/bin/python3)")
        return 0
    sys.path.insert(0, HERE)
    import trim_model

    have_ort = shutil.which("node") is not None and os.path.isdir(os.path.join(HERE, "node_modules", "onnxruntime-node"))
    if not have_ort:
        print("compare.py: ONNX Runtime skipped: needs node and onnxruntime-node "
              "(cd bench/peers && ONNXRUNTIME_NODE_INSTALL=skip npm install)")
    latency = find_latency(args.latency)
    print(f"trim: {latency}; PyTorch {torch.__version__}; rounds {args.rounds} x {args.runs} runs, alternating", flush=True)
    all_results = []
    for spec in args.models:
        all_results += compare_model(spec, args, latency, torch, trim_model, have_ort)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(all_results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
