if config["input"]["demo"]:

    rule demo:
        """Assemble the shipped real nuclei image into the demo OME-Zarr."""
        output:
            plan.input_marker,
        log:
            log("demo"),
        conda:
            "../../envs/core.yaml"
        shell:
            JOB + "demo"
