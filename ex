src/task.c:21:    t->ex = ex;
src/task.c:100:    ac_executor *ex = t->ex;
src/task.c:120:    assert(!(t->flags & AC_TASK_FINISHED) && t->ex->unfinished > 0);
src/task.c:123:    t->ex->unfinished--;
