"""An upload handler for batches of thousands of small files.

Django's stock handlers decide per request: a request body over
FILE_UPLOAD_MAX_MEMORY_SIZE (5 MB) sends *every* file to its own temporary file,
each holding an open descriptor until the request ends, so one 21,000-file batch
of 300-byte documents failed with "Too many open files". This handler decides per
file: each file is spooled in memory and moves to disk only once it is larger than
FILE_UPLOAD_MAX_MEMORY_SIZE, and memory for all files of one request is capped
(UPLOAD_BATCH_MEMORY_BYTES); past the cap, files go straight to disk.
"""
from tempfile import SpooledTemporaryFile

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler


class SpooledUploadedFile(UploadedFile):
    """A file spooled in memory or on disk; read it with .read() or .chunks()."""


class SpooledUploadHandler(FileUploadHandler):
    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        self.memory_left = getattr(settings, "UPLOAD_BATCH_MEMORY_BYTES", 256 * 1024 * 1024)
        self.per_file = settings.FILE_UPLOAD_MAX_MEMORY_SIZE
        return None  # go on with the normal multipart parsing

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        in_memory = min(self.per_file, self.memory_left)
        self.file = SpooledTemporaryFile(max_size=max(in_memory, 0), suffix=".upload", dir=settings.FILE_UPLOAD_TEMP_DIR)
        if in_memory <= 0:  # max_size 0 would mean "never roll over": go to disk now
            self.file.rollover()

    def receive_data_chunk(self, raw_data, start):
        self.file.write(raw_data)
        return None  # consumed: no later handler sees it

    def file_complete(self, file_size):
        if not self.file._rolled:
            self.memory_left -= file_size
        self.file.seek(0)
        return SpooledUploadedFile(
            file=self.file, name=self.file_name, content_type=self.content_type, size=file_size,
            charset=self.charset, content_type_extra=self.content_type_extra,
        )

    def upload_interrupted(self):
        if hasattr(self, "file"):
            self.file.close()
