build-dev/obj/sandbox/sandbox_landlock.o: sandbox/sandbox_landlock.c \
 sandbox/sandbox_int.h sandbox/sandbox.h lib/sys/log.h
sandbox/sandbox_int.h:
sandbox/sandbox.h:
lib/sys/log.h:
