"""Architecture tables: channels (× ch), resampling and attention positions per resolution.

The models read these tables; nothing about a resolution is hard-coded in the model code.
Each BigGAN block carries a resolution label used to place self-attention: attention follows
every block whose label is in the model's attention resolutions. Labels follow
BigGAN-PyTorch (for the discriminator at 32×32 every block is labelled 16, so attention at 16
follows all four blocks there).
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class BlockSpec:
    in_mult: int
    out_mult: int
    resample: bool  # Upsample (generator) or downsample (discriminator).
    label: int = 0  # Resolution label for attention placement (BigGAN).


@dataclasses.dataclass(frozen=True)
class Architecture:
    blocks: tuple
    default_attention: tuple  # BigGAN: resolutions; BigGAN-deep: block indices.
    default_dim_z: int = 128
    stem_mult: int = 0  # BigGAN-deep discriminator stem output (× ch).


def _g(pairs, labels, attention, dim_z):
    blocks = tuple(BlockSpec(i, o, True, r) for (i, o), r in zip(pairs, labels))
    return Architecture(blocks, attention, dim_z)


def _d(outs, downs, labels, attention):
    ins = (0,) + tuple(outs[:-1])  # 0 stands for the image channels.
    blocks = tuple(BlockSpec(i, o, d, r) for i, o, d, r in zip(ins, outs, downs, labels))
    return Architecture(blocks, attention)


BIGGAN_GENERATOR = {
    32: _g([(4, 4)] * 3, [8, 16, 32], (), 128),
    64: _g([(16, 16), (16, 8), (8, 4), (4, 2)], [8, 16, 32, 64], (64,), 120),
    128: _g([(16, 16), (16, 8), (8, 4), (4, 2), (2, 1)], [8, 16, 32, 64, 128], (64,), 120),
    256: _g([(16, 16), (16, 8), (8, 8), (8, 4), (4, 2), (2, 1)],
            [8, 16, 32, 64, 128, 256], (128,), 140),
    512: _g([(16, 16), (16, 8), (8, 8), (8, 4), (4, 2), (2, 1), (1, 1)],
            [8, 16, 32, 64, 128, 256, 512], (64,), 160),
}

BIGGAN_DISCRIMINATOR = {
    32: _d((4, 4, 4, 4), (True, True, False, False), (16, 16, 16, 16), ()),
    64: _d((1, 2, 4, 8, 16), (True,) * 4 + (False,), (32, 16, 8, 4, 4), (32,)),
    128: _d((1, 2, 4, 8, 16, 16), (True,) * 5 + (False,), (64, 32, 16, 8, 4, 4), (64,)),
    256: _d((1, 2, 4, 8, 8, 16, 16), (True,) * 6 + (False,),
            (128, 64, 32, 16, 8, 4, 4), (64,)),
    512: _d((1, 1, 2, 4, 8, 8, 16, 16), (True,) * 7 + (False,),
            (256, 128, 64, 32, 16, 8, 4, 4), (64,)),
}


def _deep(triples, attention_after, stem_mult=0):
    blocks = tuple(BlockSpec(i, o, r) for i, o, r in triples)
    return Architecture(blocks, (attention_after,), 128, stem_mult)


_DEEP_G_128 = [(16, 16, False), (16, 16, True), (16, 16, False), (16, 8, True), (8, 8, False),
               (8, 4, True), (4, 4, False), (4, 2, True), (2, 2, False), (2, 1, True)]
_DEEP_G_256 = [(16, 16, False), (16, 16, True), (16, 16, False), (16, 8, True), (8, 8, False),
               (8, 8, True), (8, 8, False), (8, 4, True), (4, 4, False), (4, 2, True),
               (2, 2, False), (2, 1, True)]

# Attention index: self-attention follows the block with this index (at 64×64).
BIGGAN_DEEP_GENERATOR = {
    128: _deep(_DEEP_G_128, 7),
    256: _deep(_DEEP_G_256, 7),
    512: _deep(_DEEP_G_256 + [(1, 1, False), (1, 1, True)], 7),
}

_DEEP_D_TAIL = [(4, 8, True), (8, 8, False), (8, 8, True), (8, 8, False), (8, 16, True),
                (16, 16, False), (16, 16, True), (16, 16, False)]
BIGGAN_DEEP_DISCRIMINATOR = {
    128: _deep([(1, 2, True), (2, 2, False), (2, 4, True), (4, 4, False), (4, 8, True),
                (8, 8, False), (8, 16, True), (16, 16, False), (16, 16, True),
                (16, 16, False)], 1, stem_mult=1),
    256: _deep([(1, 2, True), (2, 2, False), (2, 4, True), (4, 4, False)] + _DEEP_D_TAIL, 3,
               stem_mult=1),
    512: _deep([(1, 1, True), (1, 1, False), (1, 2, True), (2, 2, False), (2, 4, True),
                (4, 4, False)] + _DEEP_D_TAIL, 5, stem_mult=1),
}


def lookup(table, resolution, what):
    if resolution not in table:
        raise ValueError(f"No {what} architecture for resolution {resolution!r}; "
                         f"accepted resolutions: {sorted(table)}.")
    return table[resolution]
