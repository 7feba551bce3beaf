"""The checks of deploy/ that scripts/check-deploy runs (through
scripts/check-deploy.py, which says what they check).

Modules: common (result lines, paths, strict YAML), cli (`weir --help` and
argument checks), dockerfile, compose, kubernetes, main (the README check and
the order of the checks).
"""
