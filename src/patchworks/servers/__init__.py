"""Servers: long-lived helper processes that make jobs cheaper, never needed for a result.

The job fork server (:mod:`.fork`) saves each job its interpreter's start and imports; tile servers
(:mod:`.tile`, started through :mod:`.bundle` in a SLURM bundle) save each stage job of a model
method its model's load. Both run on Linux only, over abstract Unix sockets checked with the peer's
credentials (:mod:`.channel`), watching their Snakemake process through a pidfd, or by polling on
kernels before 5.3 (:mod:`.process`).
Whatever keeps a job from using one (:class:`Unavailable`) makes the job run its step in its own
process, with one warning in its log: the labels are the same either way.
"""
