"""The naive baseline the benchmarks compare Bureau with (issue 21): the same job, written the
way the Flask tutorial or a typical blog post would. See bench/naive/app.py."""
