"""A method that asks for extra channels (Cellpose's nuclear channel) gets them stacked last."""

from pathlib import Path

import numpy as np
import zarr

from patchworks.io.images import write_image
from patchworks.io.ngff import ImageSource, read_image_info
from patchworks.segment.stage import stage_tile
from patchworks.tiling.grid import TileGrid


def test_extra_channel_stacked_after_the_input_channel(tmp_path: Path) -> None:
    data = np.random.default_rng(0).integers(0, 1000, (2, 30, 40)).astype(np.uint16)
    write_image(tmp_path / "img.ome.zarr", data, "cyx")
    source = ImageSource(read_image_info(tmp_path / "img.ome.zarr"), channel=1)
    grid = TileGrid((30, 40), (15, 20), (3, 3))
    stage = zarr.create_array(str(tmp_path / "stage.zarr"), shape=(30, 40), dtype=np.uint32, chunks=(15, 20))
    seen = []

    def fn(block: np.ndarray) -> np.ndarray:
        seen.append(block.copy())
        return (block[..., 1] > 500).astype(np.uint32)

    fn.extra_channels = [0]
    stage_tile(source, grid, 3, fn, stage)
    halo = grid.halo(3)
    assert seen[0].shape == (18, 23, 2)
    np.testing.assert_array_equal(seen[0][..., 0], data[1][halo])  # input.channel first
    np.testing.assert_array_equal(seen[0][..., 1], data[0][halo])  # then the extra channel
    core = grid.core_within_halo(3)
    assert (stage[grid.core(3)] > 0).sum() == (data[0][halo][core] > 500).sum()
