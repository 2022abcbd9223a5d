"""Many images in one run: a sheet of images, a glob, every scene of a file, every field of an HCS plate;
each image's config and plan (:mod:`.images`) and the experiment's tables (:mod:`.tables`)."""
