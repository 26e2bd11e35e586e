#!/bin/sh
# Coverage is not collected with Bazel here: succeed without doing anything.
exit 0
