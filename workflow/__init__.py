"""The orchestrated pipeline: workflow ``ProcessPicture``, its activities and worker."""
