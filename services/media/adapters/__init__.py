"""The outside world of the media service (ffmpeg, ffprobe) behind small interfaces."""
