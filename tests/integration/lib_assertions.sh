#!/usr/bin/env bash
# The assertions of lib.sh pass and fail when they should: run directly,
# lib.sh tests itself.
exec bash "$(dirname "$0")/lib.sh"
