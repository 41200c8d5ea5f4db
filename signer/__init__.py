"""Policy-checked presigned URLs: the backend decides, storage moves the bytes."""
