build-wft/obj/tests/unit/test_log.o: tests/unit/test_log.c lib/sys/log.h
lib/sys/log.h:
