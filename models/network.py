"""The reference-guided colourization GAN: GCFN colour fusion + MCN generator, and a PatchGAN.

A scaled-down Gray2ColorNet (see ../shared/design/model.md). All tensors are channel-first
batches in the network's normalised units: lightness ``L/50 - 1`` as ``(b, 1, h, w)``, ab as
``ab/110`` in ``(b, 2, h, w)``. Heights and widths must be multiples of 8.

Data flow for one target batch (the reference is encoded once and reused for every frame)::

    target L ──encoder──> s1 (H) s2 (H/2) s3 (H/4) s4 (H/8)
                             └─ hypercolumn at H/4 -> match features ─┐
    reference (L, ab) ──encoder + ab embedding──> keys, values, ab histogram (cached)
                                                                     │
    GCFN at H/4:  matched = softmax(sim / T) @ values  ──┐           │
                  palette = MLP(histogram)              ├─ gate(similarity stats, flow conf)
                  flow    = conv(flow-propagated ab)    ─┘   -> fused features
    MCN decoder:  H/8 -> H/4 -> H/2 -> H, fused features added at H/8, H/4, H/2,
                  ab heads at H/4, H/2 and H (deep supervision); the full-resolution head also
                  chooses per pixel between its own ab and the flow-propagated ab.
    chroma hedge: ``chroma_scale`` maps a frame's mean flow confidence to a fitted factor for
                  its output ab (applied by the caller, vidcolor.Colorizer; training sees the
                  network's own output).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a generator; stored inside every checkpoint."""

    widths: tuple[int, int, int, int] = (16, 24, 48, 64)  # encoder channels at H, H/2, H/4, H/8
    match_dim: int = 32  # matching feature size at H/4
    ab_embed_dim: int = 16  # learned embedding of the reference ab that attention copies
    hist_bins: int = 21  # per axis: 21 x 21 soft ab histogram, bin spacing 0.1 (11 Lab units)
    topk: int = 8  # sorted top similarities fed to the gate
    temperature: float = 0.02  # softmax temperature over reference positions
    ref_size: int = 192  # the reference is resized to fit in ref_size x ref_size (48 x 48 keys)
    attention_chunk: int = 4096  # target positions (summed over the batch) per attention chunk


# The largest fp32 similarity block the attention fills at once: under the 32 MiB above which
# glibc always serves a block with a fresh mmap, whose pages fault in on first touch (a 4096 x
# 2304 block, 36 MiB, took 30 ms to fill instead of 3).
SIMS_BLOCK_BYTES = 24 << 20

# The side of the flat gray image that stands for "no reference" (the training crop's).
EMPTY_REFERENCE_SIZE = 128

# Bands of frame-mean flow confidence for the chroma hedge (see Generator.chroma_scale).
HEDGE_EDGES = (0.0, 0.1, 0.2, 0.3, 0.45, 0.6, 1.0)

PRESETS: dict[str, ModelConfig] = {
    "base": ModelConfig(),
    # For tests: the same graph in milliseconds on a CPU.
    "tiny": ModelConfig(widths=(4, 8, 8, 16), match_dim=8, ab_embed_dim=4, topk=4, ref_size=64),
}


def piecewise_linear(x: torch.Tensor, knots_x: torch.Tensor, knots_y: torch.Tensor) -> torch.Tensor:
    """``np.interp`` for tensors: linear between knots (``knots_x`` increasing), flat beyond the ends."""
    x = x.clamp(knots_x[0], knots_x[-1])
    right = torch.searchsorted(knots_x, x, right=True).clamp(1, len(knots_x) - 1)
    x0, x1 = knots_x[right - 1], knots_x[right]
    y0, y1 = knots_y[right - 1], knots_y[right]
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0)


def conv3x3(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation),
        nn.LeakyReLU(0.2, inplace=True),
    )


class Encoder(nn.Module):
    """Shared by target and reference lightness: four stages, H to H/8."""

    def __init__(self, widths: tuple[int, int, int, int]):
        super().__init__()
        w0, w1, w2, w3 = widths
        self.stage1 = nn.Sequential(conv3x3(1, w0), conv3x3(w0, w0))
        self.stage2 = nn.Sequential(conv3x3(w0, w1, stride=2), conv3x3(w1, w1))
        self.stage3 = nn.Sequential(conv3x3(w1, w2, stride=2), conv3x3(w2, w2))
        self.stage4 = nn.Sequential(
            conv3x3(w2, w3, stride=2), conv3x3(w3, w3), conv3x3(w3, w3, dilation=2)
        )

    def forward(self, lightness: torch.Tensor) -> list[torch.Tensor]:
        s1 = self.stage1(lightness)
        s2 = self.stage2(s1)
        s3 = self.stage3(s2)
        s4 = self.stage4(s3)
        return [s1, s2, s3, s4]


@dataclass
class ReferenceFeatures:
    """A reference encoded once: matching keys and copyable values at 1/4 of its size."""

    keys: torch.Tensor  # (b, match_dim, n) L2-normalised
    values: torch.Tensor  # (b, ab_embed_dim + 2, n): learned ab embedding and the raw ab
    histogram: torch.Tensor  # (b, hist_bins ** 2) soft ab histogram, sums to 1


def ab_histogram(ab: torch.Tensor, bins: int = 21) -> torch.Tensor:
    """Differentiable soft 2-D histogram of normalised ab ``(b, 2, h, w)`` -> ``(b, bins**2)``.

    Each value spreads over its neighbouring bin centres with a triangular kernel, so the
    histogram has gradients and a gray image collapses to the centre bin.
    """
    centres = torch.linspace(-1.0, 1.0, bins, device=ab.device, dtype=ab.dtype)
    spacing = 2.0 / (bins - 1)
    flat = ab.flatten(2).clamp(-1.0, 1.0)  # (b, 2, n)
    weights = (1.0 - (flat.unsqueeze(2) - centres.view(1, 1, bins, 1)).abs() / spacing).relu()
    hist = torch.einsum("bin,bjn->bij", weights[:, 0], weights[:, 1]) / flat.shape[-1]
    return hist.flatten(1)


def _take(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Rows ``table[i, index[i]]`` of each batch item: ``(b, n, c)`` and ``(b, m, k)`` -> ``(b, m, k, c)``.

    One index_select on the flattened table: 3-4x faster than advanced indexing on a CPU.
    """
    b, n, c = table.shape
    offsets = torch.arange(b, device=index.device).view(b, 1, 1) * n
    return table.reshape(b * n, c).index_select(0, (index + offsets).flatten()).view(*index.shape, c)


def topk_indices(sims: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the ``k`` largest entries along the last axis of ``sims``, in no set order.

    The same set as ``sims.topk(k).indices`` (up to ties), faster on a CPU, where topk works row
    by row at a few ns per entry (2,730 x 2,304 similarities, k = 8, 2 cores of an AMD EPYC: 3.6
    instead of 4.0 ms, and 4.6 with one level of groups): the columns are split into interleaved
    groups of about 8 (group j holds columns j, j + G, j + 2G, ...), the k groups with the
    largest maxima are kept (found the same way, one level down: 2,304 columns -> 288 group
    maxima -> 36) and the top k is taken among their columns. That is exact (ties aside): the
    group of any of the k largest entries has a maximum at least as large as the k-th largest
    value, and only k groups can have one (each such maximum is itself one of the k largest
    entries), so those groups are the k with the largest maxima.
    """
    n = sims.shape[-1]
    # G groups: the smallest divisor of n giving groups of at most 8 columns (and at least k groups).
    groups = next(g for g in range(max(k, -(-n // 8)), n + 1) if n % g == 0)
    if n <= 8 * k or groups == n:  # too few columns to gain, or no divisor fits
        return sims.topk(k, dim=-1, sorted=False).indices
    best_groups = topk_indices(sims.unflatten(-1, (n // groups, groups)).amax(-2), k)
    columns = torch.arange(0, n, groups, device=sims.device)
    candidates = (best_groups.unsqueeze(-1) + columns).flatten(-2)  # (..., k * n / G)
    return candidates.gather(-1, topk_indices(sims.gather(-1, candidates), k))


def attend(
    query: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor,
    temperature: float,
    topk: int,
    chunk: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Soft correspondence of every target position with the reference, over its top-k matches.

    query ``(b, d, h, w)`` and keys ``(b|1, d, n)`` are L2-normalised; values ``(b|1, c, n)``.
    Each target position attends to its ``topk`` most similar reference positions (softmax at
    ``temperature``): at the low temperatures used here a full softmax puts almost all weight
    there anyway, and the full one costs most of the frame time on a CPU. Returns the attended
    values ``(b, c, h, w)`` and permutation-invariant statistics of each similarity row
    ``(b, topk + 1, h, w)``: the sorted top-k similarities (the first is the maximum) and the
    mean. Target positions are processed in chunks of ``chunk`` positions over the whole
    batch, so memory stays bounded.

    Similarities are computed in fp32 whatever the autocast precision: at T = 0.02 a similarity
    off by 0.004 (bf16's step near 1) changes a weight by 20%, and in bf16 the top 8 of a row
    differed from the exact top 8 in most rows. The product is small (d = 32), so fp32 costs
    little; what costs is picking the top k, done by :func:`topk_indices`.
    """
    b, d, h, w = query.shape
    n = keys.shape[-1]
    k = min(topk, n)
    with torch.autocast(query.device.type, enabled=False):
        rows = query.flatten(2).transpose(1, 2).float()  # (b, m, d)
        keys = keys.expand(b, -1, -1).float()  # (b, d, n)
        # Row-contiguous table: index_select gathering rows of a transposed table walks memory
        # with a stride of n and took 2.4 ms per call instead of 0.1 (the copy is tiny).
        values_t = values.expand(b, -1, -1).transpose(1, 2).float().contiguous()  # (b, n, c)
        # mean over n of q . k_j is q . mean_j(k_j): no need to average the full matrix.
        mean_sim = torch.bmm(rows, keys.mean(2, keepdim=True))  # (b, m, 1)
        # The similarity block is (b, step, n): split the chunk over the batch so memory stays
        # bounded by ``chunk * n`` whatever the batch size, and by SIMS_BLOCK_BYTES.
        step = max(1, min(chunk, SIMS_BLOCK_BYTES // (4 * n)) // b)
        attended, top_sims = [], []
        for start in range(0, rows.shape[1], step):
            sims = torch.bmm(rows[:, start : start + step], keys)  # (b, mc, n)
            index = topk_indices(sims, k)  # (b, mc, k)
            top, order = sims.gather(2, index).sort(dim=-1, descending=True)
            weights = torch.softmax(top / temperature, dim=-1)
            picked = _take(values_t, index.gather(2, order))  # (b, mc, k, c)
            attended.append((weights.unsqueeze(-1) * picked).sum(2))
            top_sims.append(top)
    attended_map = torch.cat(attended, 1).transpose(1, 2).reshape(b, -1, h, w)
    stats = torch.cat([torch.cat(top_sims, 1), mean_sim], -1)
    stats_map = stats.transpose(1, 2).reshape(b, -1, h, w)
    return attended_map.to(query.dtype), stats_map.to(query.dtype)


def match_score(query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """How well a reference covers each target: mean over target positions of the best match.

    query ``(b, d, h, w)`` and keys ``(1, d, n)`` are L2-normalised matching features; returns
    ``(b,)`` in [-1, 1]. Used to pick, per shot, the reference that fits it best.
    """
    sim = torch.bmm(query.flatten(2).transpose(1, 2).float(), keys.expand(query.shape[0], -1, -1).float())
    return sim.amax(dim=-1).mean(dim=-1)


class UpStage(nn.Module):
    """x2 upsampling by a 4x4 stride-2 transposed conv, summed with a conv of the encoder skip."""

    def __init__(self, cin: int, cskip: int, cout: int):
        super().__init__()
        self.up = nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1)
        self.skip = nn.Conv2d(cskip, cout, 3, padding=1)
        self.refine = conv3x3(cout, cout)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.refine(F.leaky_relu(self.up(x) + self.skip(skip), 0.2))


class Generator(nn.Module):
    """GCFN + MCN. ``encode_reference`` once, then ``forward`` for any number of targets."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        w0, w1, w2, w3 = config.widths
        self.encoder = Encoder(config.widths)
        self.match_proj = nn.Conv2d(w1 + w2 + w3, config.match_dim, 1)
        # Reference ab -> H/4 embedding that the attention copies onto the target.
        self.ab_embed = nn.Sequential(
            conv3x3(3, w0),
            conv3x3(w0, w1, stride=2),
            nn.Conv2d(w1, config.ab_embed_dim, 3, stride=2, padding=1),
        )
        value_dim = config.ab_embed_dim + 2
        self.matched_proj = nn.Sequential(conv3x3(value_dim, w2), nn.Conv2d(w2, w2, 1))
        self.palette = nn.Sequential(
            nn.Linear(config.hist_bins**2, 128), nn.LeakyReLU(0.2), nn.Linear(128, w2)
        )
        self.flow_proj = nn.Sequential(conv3x3(3, w2), nn.Conv2d(w2, w2, 1))
        # Gate over the three candidates (matched, palette, flow) from per-row similarity
        # statistics, the flow confidence and the target's own features.
        self.gate = nn.Sequential(conv3x3(config.topk + 1 + 1 + w2, 32), nn.Conv2d(32, 3, 3, padding=1))
        self.fuse_down = conv3x3(w2, w3)
        self.fuse_up = nn.Conv2d(w2, w1, 1)
        self.bottleneck = nn.Sequential(conv3x3(w3, w3), conv3x3(w3, w3, dilation=2))
        self.up4 = UpStage(w3, w2, w2)
        self.up2 = UpStage(w2, w1, w1)
        self.up1 = UpStage(w1, w0, w0)
        self.head4 = nn.Conv2d(w2, 2, 1)
        self.head2 = nn.Conv2d(w1, 2, 1)
        self.head1 = nn.Sequential(nn.Conv2d(w0 + 3, w0, 1), nn.LeakyReLU(0.2, inplace=True), nn.Conv2d(w0, 3, 1))
        # The chroma hedge: one ab scale per band of HEDGE_EDGES, fitted after training
        # (vidcolor.training.calibrate); all ones (no hedge) until then.
        self.register_buffer("hedge_scales", torch.ones(len(HEDGE_EDGES) - 1))
        # Where those scales sit: the bands' centres (derived from HEDGE_EDGES, so not saved; a
        # buffer so that it is on the model's device without a copy per call).
        edges = torch.tensor(HEDGE_EDGES)
        self.register_buffer("hedge_centres", (edges[:-1] + edges[1:]) / 2, persistent=False)

    def _match_features(self, feats: list[torch.Tensor]) -> torch.Tensor:
        _, s2, s3, s4 = feats
        hyper = torch.cat(
            [F.avg_pool2d(s2, 2), s3, F.interpolate(s4, size=s3.shape[-2:], mode="bilinear")], 1
        )
        return F.normalize(self.match_proj(hyper), dim=1)

    def match_query(self, lightness: torch.Tensor) -> torch.Tensor:
        """Matching features ``(b, match_dim, h/4, w/4)`` of target lightness (for :func:`match_score`)."""
        return self._match_features(self.encoder(lightness))

    def chroma_scale(self, flow_confidence: torch.Tensor) -> torch.Tensor:
        """The hedge's factor ``(b, 1, 1, 1)`` for output ab, from flow confidence ``(b, 1, h, w)``.

        Where the reference does not match a frame (low mean flow confidence) the network's
        colours are often wrong, and a wrong colour costs more than a muted one; the factor is
        interpolated between the fitted scales at the bands' centres.
        """
        mean_confidence = flow_confidence.float().mean(dim=(1, 2, 3))
        return piecewise_linear(mean_confidence, self.hedge_centres, self.hedge_scales).view(-1, 1, 1, 1)

    def encode_reference(self, ref_lightness: torch.Tensor, ref_ab: torch.Tensor) -> ReferenceFeatures:
        """Encode a reference (normalised L ``(b, 1, h, w)`` and ab ``(b, 2, h, w)``) once."""
        keys = self._match_features(self.encoder(ref_lightness)).flatten(2)
        embedding = self.ab_embed(torch.cat([ref_lightness, ref_ab], 1))
        raw_ab = F.adaptive_avg_pool2d(ref_ab, embedding.shape[-2:])
        values = torch.cat([embedding, raw_ab], 1).flatten(2)
        return ReferenceFeatures(keys, values, ab_histogram(ref_ab, self.config.hist_bins))

    def encode_empty_reference(self) -> ReferenceFeatures:
        """"No reference": a flat mid-gray image without colour, as training shows it (see
        training/data.py), with zero flow confidence at the caller. A model trained with such
        pairs colours from the gray content alone (automatic mode); its keys are all alike, so
        the attention carries nothing."""
        device = self.hedge_scales.device
        side = EMPTY_REFERENCE_SIZE
        zeros = torch.zeros(1, 1, side, side, device=device)
        return self.encode_reference(zeros, torch.zeros(1, 2, side, side, device=device))

    def forward(
        self,
        lightness: torch.Tensor,
        reference: ReferenceFeatures,
        flow_ab: torch.Tensor,
        flow_confidence: torch.Tensor,
    ) -> list[torch.Tensor]:
        """Predict ab for target lightness ``(b, 1, h, w)``.

        ``flow_ab`` ``(b, 2, h, w)`` is the reference's ab propagated onto the target by optical
        flow and ``flow_confidence`` ``(b, 1, h, w)`` in [0, 1] how much to trust it. Returns ab
        predictions at H/4, H/2 and H (normalised units); the last one is the output.
        """
        cfg = self.config
        s1, s2, s3, s4 = feats = self.encoder(lightness)
        query = self._match_features(feats)
        matched, stats = attend(
            query, reference.keys, reference.values, cfg.temperature, cfg.topk, cfg.attention_chunk
        )
        flow = torch.cat([flow_ab, flow_confidence], 1)
        flow4 = F.avg_pool2d(flow, 4)
        gate = torch.softmax(self.gate(torch.cat([stats, flow4[:, 2:], s3], 1)), dim=1)
        palette = self.palette(reference.histogram.expand(lightness.shape[0], -1))
        fused4 = (
            gate[:, 0:1] * self.matched_proj(matched)
            + gate[:, 1:2] * palette[:, :, None, None]
            + gate[:, 2:3] * self.flow_proj(flow4)
        )
        x = self.bottleneck(s4 + self.fuse_down(F.avg_pool2d(fused4, 2)))
        x = self.up4(x, s3) + fused4
        ab4 = torch.tanh(self.head4(x))
        x = self.up2(x, s2) + self.fuse_up(F.interpolate(fused4, scale_factor=2.0, mode="bilinear"))
        ab2 = torch.tanh(self.head2(x))
        x = self.up1(x, s1)
        # head1 sees [x, flow]. Its first 1x1 conv runs as two convs whose outputs are summed
        # (the same weights): oneDNN takes a slow path for a 19-channel input on a CPU, and the
        # concatenation is a full-resolution copy (2.6 -> 1.6 ms at 256x456 in bf16). The
        # 3-channel output goes back to fp32 and to channel-first planes, where sigmoid and tanh
        # are vectorised on a CPU (on a channel slice of a channels-last tensor, tanh took 1.8 ms
        # instead of 0.05 at 256x456).
        conv_in, act, conv_out = self.head1
        w0 = x.shape[1]
        hidden = F.conv2d(x, conv_in.weight[:, :w0], conv_in.bias) + F.conv2d(flow, conv_in.weight[:, w0:])
        out = conv_out(act(hidden)).float().contiguous()
        # Where the flow-propagated colour is right, copying it exactly beats re-synthesising it.
        keep_flow = torch.sigmoid(out[:, 2:3])
        ab1 = keep_flow * flow_ab + (1 - keep_flow) * torch.tanh(out[:, :2])
        return [ab4, ab2, ab1]


class PatchDiscriminator(nn.Module):
    """Spectral-normalised PatchGAN on (L, ab): one realness score per ~34x34 patch."""

    def __init__(self, width: int = 32):
        super().__init__()
        sn = nn.utils.spectral_norm
        layers: list[nn.Module] = []
        cin = 3
        for cout, stride in [(width, 2), (width * 2, 2), (width * 4, 2), (width * 4, 1)]:
            layers += [sn(nn.Conv2d(cin, cout, 4, stride=stride, padding=1)), nn.LeakyReLU(0.2, True)]
            cin = cout
        layers.append(sn(nn.Conv2d(cin, 1, 4, padding=1)))
        self.net = nn.Sequential(*layers)

    def forward(self, lightness: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([lightness, ab], 1))
