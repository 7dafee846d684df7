import dataclasses

import numpy as np
import pytest
import torch

from vidcolor.models import PRESETS, PatchDiscriminator, ab_histogram, attend, build_model, load_model, save_checkpoint
from vidcolor.models.network import piecewise_linear, topk_indices


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return build_model("tiny").eval()


def run(model, batch=2, h=48, w=72, ref=(40, 56)):
    reference = model.encode_reference(torch.rand(1, 1, *ref) * 2 - 1, torch.randn(1, 2, *ref) * 0.3)
    with torch.no_grad():
        return model(torch.rand(batch, 1, h, w) * 2 - 1, reference, torch.zeros(batch, 2, h, w), torch.rand(batch, 1, h, w))


def test_tiny_shapes_and_finite(tiny):
    outputs = run(tiny)
    assert [tuple(o.shape) for o in outputs] == [(2, 2, 12, 18), (2, 2, 24, 36), (2, 2, 48, 72)]
    assert all(torch.isfinite(o).all() for o in outputs)
    assert all(o.abs().max() <= 1 for o in outputs)


def test_output_does_not_depend_on_batch_companions(tiny):
    torch.manual_seed(1)
    reference = tiny.encode_reference(torch.rand(1, 1, 32, 32), torch.randn(1, 2, 32, 32) * 0.3)
    frames, flow_ab, conf = torch.rand(3, 1, 32, 32), torch.zeros(3, 2, 32, 32), torch.ones(3, 1, 32, 32)
    with torch.no_grad():
        batched = tiny(frames, reference, flow_ab, conf)[-1]
        single = tiny(frames[1:2], reference, flow_ab[1:2], conf[1:2])[-1]
    assert torch.allclose(batched[1:2], single, atol=1e-5)


def test_attention_chunking_is_exact():
    torch.manual_seed(2)
    q = torch.nn.functional.normalize(torch.randn(2, 8, 6, 7), dim=1)
    k = torch.nn.functional.normalize(torch.randn(1, 8, 30), dim=1)
    v = torch.randn(1, 5, 30)
    whole = attend(q, k, v, 0.05, 4, chunk=1000)
    chunked = attend(q, k, v, 0.05, 4, chunk=5)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(whole, chunked))
    # at a tiny temperature attention copies the best-matching value
    best = torch.einsum("bdm,dn->bmn", q.flatten(2), k[0]).argmax(-1)
    hard, _ = attend(q, k, v, 1e-4, 4, chunk=1000)
    assert torch.allclose(hard.flatten(2), v[0][:, best].permute(1, 0, 2), atol=1e-4)


def test_the_similarity_block_stays_under_its_byte_bound(monkeypatch):
    """Above 32 MiB glibc would mmap every block afresh: the rows per block follow SIMS_BLOCK_BYTES."""
    from vidcolor.models import network

    torch.manual_seed(3)
    q = torch.nn.functional.normalize(torch.randn(2, 8, 6, 7), dim=1)
    k = torch.nn.functional.normalize(torch.randn(1, 8, 30), dim=1)
    v = torch.randn(1, 5, 30)
    whole = attend(q, k, v, 0.05, 4, chunk=1000)
    blocks, bmm = [], torch.bmm
    monkeypatch.setattr(network.torch, "bmm", lambda a, b: blocks.append(a.shape[0] * a.shape[1] * b.shape[2]) or bmm(a, b))
    monkeypatch.setattr(network, "SIMS_BLOCK_BYTES", 4 * 30 * 10)  # 10 rows of 30 similarities
    bounded = attend(q, k, v, 0.05, 4, chunk=1000)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(whole, bounded))
    # The first product is the mean similarity (one column); then blocks of 2 x 5 rows.
    assert blocks[0] == 2 * 42 and max(blocks[1:]) == 2 * 5 * 30 and len(blocks) == 1 + 9


@pytest.mark.parametrize(("n", "k"), [(2304, 8), (1248, 4), (97, 4), (64, 4), (9, 4), (5, 4)])
def test_grouped_topk_picks_the_same_set_as_topk(n, k):
    # 2304: the shipped model's 48 x 48 keys, two levels of groups (288 group maxima, then 36);
    # 1248: 48 x 26 keys (156 groups, then 26); 64: 8 groups of 8; 97 (prime), 9 and 5: no
    # divisor fits, so one column per group.
    torch.manual_seed(n)
    sims = torch.randn(3, 50, n)
    expected = sims.topk(k, dim=-1).indices.sort(-1).values
    assert torch.equal(topk_indices(sims, k).sort(-1).values, expected)


@pytest.mark.parametrize(("n", "groups", "k"), [(64, 8, 4), (2304, 288, 8)])
def test_grouped_topk_finds_a_top_k_that_sits_in_one_group(n, groups, k):
    # The k largest in columns 3, 3 + G, 3 + 2G, ... (one interleaved group of the n / G
    # groups): keeping only each group's maximum before the final pick would miss all but one.
    sims = torch.zeros(1, 1, n)
    sims[0, 0, 3::groups] = torch.arange(1.0, n // groups + 1)
    expected = list(range(3, n, groups))[-k:]
    assert sorted(topk_indices(sims, k)[0, 0].tolist()) == expected


def test_attention_with_a_reference_per_batch_item_matches_each_alone():
    torch.manual_seed(4)
    q = torch.nn.functional.normalize(torch.randn(2, 8, 5, 6), dim=1)
    k = torch.nn.functional.normalize(torch.randn(2, 8, 30), dim=1)
    v = torch.randn(2, 5, 30)
    together = attend(q, k, v, 0.05, 4, chunk=1000)
    for i in range(2):
        alone = attend(q[i : i + 1], k[i : i + 1], v[i : i + 1], 0.05, 4, chunk=1000)
        assert all(torch.allclose(a[i : i + 1], b, atol=1e-6) for a, b in zip(together, alone))


def test_attention_weights_stay_fp32_exact_under_reduced_precision():
    # At T = 0.02 a similarity rounded to bf16 (steps of up to 0.004) moves a softmax weight by
    # up to 20%: the weights and statistics must come from fp32 similarities under autocast.
    torch.manual_seed(3)
    n = 40
    q = torch.nn.functional.normalize(torch.randn(1, 16, 5, 6), dim=1).bfloat16()  # as the network gives it
    k = torch.nn.functional.normalize(torch.randn(1, 16, n), dim=1)
    one_hot = torch.eye(n).unsqueeze(0)  # attended value j = the weight given to key j
    sims = torch.einsum("dm,dn->mn", q[0].flatten(1).float(), k[0])
    top = sims.topk(4, dim=-1)
    weights = torch.zeros_like(sims).scatter(1, top.indices, torch.softmax(top.values / 0.02, dim=-1))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        attended, stats = attend(q, k, one_hot, 0.02, 4, chunk=1000)
    assert attended.dtype == torch.bfloat16
    # only the final bf16 storage rounds (relative 2^-9); rounded similarities would be ~10x off
    assert torch.allclose(attended[0].flatten(1).T.float(), weights, atol=4e-3)
    expected_stats = torch.cat([top.values, sims.mean(-1, keepdim=True)], -1)
    assert torch.allclose(stats[0].flatten(1).T.float(), expected_stats, atol=4e-3)


def test_histogram_of_gray_is_one_central_bin():
    hist = ab_histogram(torch.zeros(1, 2, 8, 8), bins=21)
    assert hist.shape == (1, 441) and hist[0, 220] == pytest.approx(1.0)
    assert ab_histogram(torch.rand(2, 2, 8, 8) * 2 - 1).sum(1).allclose(torch.ones(2))


def test_discriminator_patch_scores():
    scores = PatchDiscriminator(width=8)(torch.rand(2, 1, 64, 64), torch.rand(2, 2, 64, 64))
    assert scores.shape[0] == 2 and scores.shape[1] == 1 and torch.isfinite(scores).all()


def test_checkpoint_round_trip_is_strict(tmp_path, tiny):
    path = tmp_path / "tiny.pt"
    save_checkpoint(path, tiny)
    loaded = load_model(path)
    assert loaded.config == PRESETS["tiny"]
    assert all(torch.equal(a, b) for a, b in zip(tiny.state_dict().values(), loaded.state_dict().values()))
    broken = {"config": dataclasses.asdict(PRESETS["tiny"]), "state_dict": {}}
    torch.save(broken, path)
    with pytest.raises(ValueError, match="not a vidcolor checkpoint"):
        load_model(path)


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(ValueError, match="base, tiny"):
        build_model("huge")
    with pytest.raises(FileNotFoundError, match="shipped models: base"):
        load_model("no-such-model")


def test_piecewise_linear_is_np_interp():
    knots_x, knots_y = torch.tensor([0.1, 0.3, 0.7]), torch.tensor([0.2, 0.5, 1.0])
    x = torch.linspace(-0.5, 1.5, 41)
    expected = np.interp(x.numpy(), knots_x.numpy(), knots_y.numpy())
    torch.testing.assert_close(piecewise_linear(x, knots_x, knots_y), torch.from_numpy(expected).float())


def test_chroma_hedge_scales_each_frame_by_its_mean_flow_confidence(tmp_path):
    model = build_model("tiny")
    # Frame means 0.02 and 0.9 lie beyond the first and last band centres; 0.25 and 0.2 on and between knots.
    confidence = torch.tensor([0.02, 0.9, 0.25, 0.2]).view(4, 1, 1, 1).expand(4, 1, 8, 8).clone()
    confidence[2, 0, :4] = 0.0  # a half-black frame: only the mean counts
    confidence[2, 0, 4:] = 0.5
    assert torch.equal(model.chroma_scale(confidence), torch.ones(4, 1, 1, 1))  # not fitted yet: no hedge

    model.hedge_scales.copy_(torch.tensor([0.2, 0.4, 0.6, 0.8, 0.9, 1.0]))
    torch.testing.assert_close(model.chroma_scale(confidence).flatten(), torch.tensor([0.2, 1.0, 0.6, 0.5]))
    path = tmp_path / "hedged.pt"
    save_checkpoint(path, model)
    assert torch.equal(load_model(path).hedge_scales, model.hedge_scales)


def test_checkpoints_from_before_the_hedge_load_without_one(tmp_path, tiny):
    path = tmp_path / "old.pt"
    state = {name: value for name, value in tiny.state_dict().items() if name != "hedge_scales"}
    torch.save({"config": dataclasses.asdict(PRESETS["tiny"]), "state_dict": state}, path)
    assert torch.equal(load_model(path).hedge_scales, torch.ones(6))
