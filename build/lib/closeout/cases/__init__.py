"""The read model of close-customer cases: cases, tasks, notices, holds, archives, audit."""
