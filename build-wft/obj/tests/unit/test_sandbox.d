build-wft/obj/tests/unit/test_sandbox.o: tests/unit/test_sandbox.c \
 sandbox/sandbox.h sandbox/sandbox_int.h sandbox/sandbox.h
sandbox/sandbox.h:
sandbox/sandbox_int.h:
sandbox/sandbox.h:
