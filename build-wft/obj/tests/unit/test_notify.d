build-wft/obj/tests/unit/test_notify.o: tests/unit/test_notify.c \
 lib/svc/notify.h
lib/svc/notify.h:
