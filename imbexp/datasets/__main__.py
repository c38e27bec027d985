"""``python -m imbexp.datasets``: list the KEEL sets ``dataset=keel dataset.name=NAME`` takes."""

from imbexp.datasets import keel_names

for keel_name in keel_names():
    print(keel_name)
