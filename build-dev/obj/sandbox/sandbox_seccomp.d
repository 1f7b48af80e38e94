build-dev/obj/sandbox/sandbox_seccomp.o: sandbox/sandbox_seccomp.c \
 sandbox/sandbox_int.h sandbox/sandbox.h lib/base/fmt.h lib/sys/log.h \
 lib/base/mem.h
sandbox/sandbox_int.h:
sandbox/sandbox.h:
lib/base/fmt.h:
lib/sys/log.h:
lib/base/mem.h:
