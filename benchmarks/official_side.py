"""The official side of `icl_by_gd.py`: drives the official code's one-layer run and times it the same way.

Not part of the book and not run by `make test`: it needs the official code and its old JAX stack. Run it from
the folder `transformers_learn_icl_by_gd` of google-research/self-organising-systems, unmodified, in a virtual
environment with jax 0.4.13, jaxlib 0.4.13, dm-haiku 0.0.10, optax 0.1.7, chex 0.1.82, numpy 1.26.4,
scipy 1.11.4, ml_collections, absl-py and pytz:

    XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1" \\
        python /path/to/benchmarks/official_side.py --seeds 0 1 2 --write /path/to/benchmarks/official_init.json

Settings are those of the official notebook's one-layer "Config" cell (d = 10, N = 10, init scale 0.002, clip
0.001, Adam lr 1e-3, betas 0.9 / 0.98), with batch 512. Per seed it prints the step at which the test loss
on 10,000 prompts (evaluated every 100 steps, before that step's update) first falls to 1.05 x the loss of one
GD step with the best step size (in closed form on the same prompts; our side uses the same rule), the
milliseconds per training step (300 steps, no evaluation, after compilation), the training seconds to that
point and the seconds from process start. With `--write`, it stores each seed's initial weights, so that our
side can start from exactly the same weights (`icl_by_gd.py --init official`).
"""

import time

START = time.time()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

sys.path.insert(0, os.getcwd())  # the official folder, where this is run from (its code imports `src.*`)

import jax  # noqa: E402
import numpy as np  # noqa: E402
import src.train as official  # noqa: E402
from jax import vmap  # noqa: E402
from src.config import config  # noqa: E402
from src.data import create_reg_data  # noqa: E402

ONE_LAYER = dict(
    deq=True, gd_deq=True, att_only_trans=True, use_bias=False, include_query=False, distract_size=0,
    use_softmax=False, first_layer_sm=False, use_non_lin_mix=False, widening_factor=4, layer_norm=False,
    out_proj=False, in_proj=False, adam=True, dataset_size=10, input_size=10, key_size=11, num_layers=1,
    num_heads=1, grad_clip_value=0.001, lr=0.001, wd=0.0, init_scale=0.002, bs=512, dampening=1.0, clip=0,
    dropout_rate=0.0, y_update=False, input_range=1, pos_enc=False, pos_enc_size=20, concat_pos_enc=False,
    analyse=False, cycle_data=0, emb_size=11,
)  # fmt: skip


def gd_loss(tokens, targets):
    """One GD step from w = 0 with the best step size, in closed form."""
    x, y, xq = tokens[:, :10, :10], tokens[:, :10, 10], tokens[:, 10, :10]
    a = np.einsum("bn,bnd,bd->b", y, x, xq) / 10
    eta = (a * targets).sum() / (a * a).sum()
    return 0.5 * ((eta * a - targets) ** 2).mean()


def run(seed, max_steps=6000):
    config.seed = seed
    optimiser, state, _, rng = official.init()
    rng, data_rng = jax.random.split(rng, 2)
    eval_rng = jax.random.PRNGKey(5)
    data = official.data_creator(jax.random.split(eval_rng, num=10000), 10, 10, 0, 1, 1)
    ref = gd_loss(np.asarray(data[0], np.float64), np.asarray(data[1][:, -1], np.float64))
    weights = {k.rsplit("/", 1)[1]: np.asarray(v["w"]).tolist() for k, v in state.params.items()}
    t0, hit = time.perf_counter(), None
    for step in range(max_steps):
        rng, data_rng = jax.random.split(data_rng, 2)
        batch = official.data_creator(jax.random.split(rng, num=config.bs), 10, 10, 0, 1, 1)
        if step % 100 == 0:
            loss, _, _ = official.predict_test.apply(state.params, eval_rng, data, False)
            if float(loss) <= 1.05 * ref:
                hit = step
                break
        state, _ = official.update(state, batch, optimiser)
    train_s, from_start = time.perf_counter() - t0, time.time() - START
    t1 = time.perf_counter()
    for _ in range(300):
        rng, data_rng = jax.random.split(data_rng, 2)
        batch = official.data_creator(jax.random.split(rng, num=config.bs), 10, 10, 0, 1, 1)
        state, m = official.update(state, batch, optimiser)
    m["train_loss"].block_until_ready()
    ms = (time.perf_counter() - t1) / 300 * 1e3
    return dict(seed=seed, step=hit, ms_per_step=ms, train_s=train_s, from_start_s=from_start), weights


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--write", help="store each seed's initial weights and steps to 5 %% in this JSON file")
    args = ap.parse_args()
    for k, v in ONE_LAYER.items():
        setattr(config, k, v)
    official.data_creator = vmap(create_reg_data, in_axes=(0, None, None, None, None, None), out_axes=0)
    weights, steps = {}, {}
    for seed in args.seeds:
        r, weights[str(seed)] = run(seed)
        steps[str(seed)] = -1 if r["step"] is None else r["step"]
        print(json.dumps(r), flush=True)
    if args.write:
        rnd = lambda m: [[float("%.9g" % v) for v in row] for row in m]  # noqa: E731  float32 round trip
        doc = dict(
            source="google-research/self-organising-systems, transformers_learn_icl_by_gd, one-layer config, "
            "init() per seed (written by benchmarks/official_side.py)",
            layout="per seed: the haiku weights w of query, key, value, linear (x @ w, 11 x 11); ours are their "
            "transposes",
            official_steps_to_5pct=steps,
            weights={s: {k: rnd(m) for k, m in w.items()} for s, w in weights.items()},
        )
        with open(args.write, "w") as f:
            f.write(json.dumps(doc, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
