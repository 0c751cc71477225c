"""Recursive expansion of attachments: archives, disk images and other containers, under limits."""
