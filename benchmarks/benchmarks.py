"""asv-style benchmark classes over ddcsem's kernels (run them with asv, or with ``ddcsem bench``).

Each class times the numba kernel and its numpy reference on the same synthetic pair.
"""

from __future__ import annotations

import numpy as np

from ddcsem.colorize import colorize, colorize_reference
from ddcsem.measure import particle_table, particle_table_reference
from ddcsem.segment import segment_particles
from ddcsem.separate import density_map
from ddcsem.synthetic import make_pair


class Colorize:
    params = (["uint8", "uint16", "float32"], ["overlay", "density"])
    param_names = ["dtype", "mode"]

    def setup(self, dtype, mode):
        pair = make_pair((1024, 1024), dtype=np.dtype(dtype), seed=1)
        self.se, self.bse = pair.se, pair.bse
        colorize(self.se, self.bse, mode=mode)  # compile or load from the cache

    def time_kernel(self, dtype, mode):
        colorize(self.se, self.bse, mode=mode)

    def time_numpy_reference(self, dtype, mode):
        colorize_reference(self.se, self.bse, mode=mode)


class Measure:
    def setup(self):
        pair = make_pair((1024, 1024), seed=2)
        self.bse = pair.bse
        self.labels = segment_particles(density_map(pair.bse))
        particle_table(self.labels)

    def time_kernel(self):
        particle_table(self.labels, pixel_size_nm=20.0, bse=self.bse)

    def time_reference(self):
        particle_table_reference(self.labels, pixel_size_nm=20.0, bse=self.bse)


class SegmentKernels:
    """The segmentation's numba kernels against the scipy functions the tests hold them to,
    on the mask and map of a 2048² field."""

    def setup(self):
        from ddcsem.segment import threshold_value

        pair = make_pair((2048, 2048), n_particles=1000, seed=3)
        self.density = density_map(pair.bse)
        self.mask = self.density > threshold_value(self.density)
        self.time_label_kernel()  # compile or load from the cache
        self.time_distance_kernel()
        self.time_gaussian_kernel()

    def time_label_kernel(self):
        from ddcsem.segment import _label

        _label(self.mask)

    def time_label_scipy(self):
        from scipy import ndimage

        ndimage.label(self.mask, structure=np.ones((3, 3)))

    def time_distance_kernel(self):
        from ddcsem._kernels.segment import distance_transform

        distance_transform(self.mask)

    def time_distance_scipy(self):
        from scipy import ndimage

        ndimage.distance_transform_edt(self.mask)

    def time_gaussian_kernel(self):
        from ddcsem._filters import gaussian

        gaussian(self.density, 1.0)

    def time_gaussian_scipy(self):
        from scipy import ndimage

        ndimage.gaussian_filter(self.density, 1.0, mode="reflect")
