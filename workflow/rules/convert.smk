# A microscope file given as input.store: converted to OME-Zarr first, one job per slab of tiles.
if experiment.converts:

    # Local: it fixes the tiles the regions and chunks follow (tile_shape auto), on the submit host.
    localrules:
        convert_init,

    rule convert_init:
        """Reuse a finished conversion of the same file, or create the empty OME-Zarr."""
        input:
            each_image(lambda p: p.config["input"]["store"]),
        output:
            paths.convert_init,
        params:
            source=each_image(lambda p: p.conversion.fingerprint()),  # size + mtime: a changed file converts again
            convert=each_image(lambda p: p.config["convert"]),
        log:
            log("convert_init"),
        conda:
            "../../envs/core.yaml"
        shell:
            JOB + "convert_init {output:q}"

    rule convert:
        """Copy one slab of tiles from the file into level 0 (its own chunks)."""
        input:
            paths.convert_init,
        output:
            paths.convert_region("{region}"),
        log:
            log("convert/{region}"),
        wildcard_constraints:
            region=r"\d+",
        conda:
            "../../envs/core.yaml"
        shell:
            JOB + "convert --region {wildcards.region} --init {input:q} {output:q}"

    rule convert_finish:
        """Build the image pyramid (y/x halved, z kept) from level 0 on disk; write the NGFF metadata."""
        input:
            init=paths.convert_init,
            regions=each_image(lambda p: [p.paths.convert_region(r) for r in range(len(p.conversion.regions(p.grid)))]),
        output:
            paths.converted,
        log:
            log("convert_finish"),
        conda:
            "../../envs/core.yaml"
        shell:
            JOB + "convert_finish --init {input.init:q} {output:q}"
