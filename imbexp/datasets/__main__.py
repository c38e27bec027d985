"""``python -m imbexp.datasets``: list the KEEL sets ``dataset=keel dataset.name=NAME`` takes, one
per line, then, after a blank line and a heading, those ``dataset=keel_multiclass`` takes."""

from imbexp.datasets import keel_multiclass_names, keel_names

for keel_name in keel_names():
    print(keel_name)
print()
print("# multi-class sets: dataset=keel_multiclass dataset.name=NAME")
for keel_name in keel_multiclass_names():
    print(keel_name)
