build-wft/obj/tests/unit/test_conf.o: tests/unit/test_conf.c \
 lib/sys/conf.h
lib/sys/conf.h:
