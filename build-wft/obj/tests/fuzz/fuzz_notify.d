build-wft/obj/tests/fuzz/fuzz_notify.o: tests/fuzz/fuzz_notify.c \
 lib/svc/notify.h
lib/svc/notify.h:
