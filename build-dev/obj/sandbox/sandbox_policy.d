build-dev/obj/sandbox/sandbox_policy.o: sandbox/sandbox_policy.c \
 sandbox/sandbox_int.h sandbox/sandbox.h
sandbox/sandbox_int.h:
sandbox/sandbox.h:
