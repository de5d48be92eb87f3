"""MXNet side: readers for the symbol JSON and the .params files."""
