build-wft/obj/tests/tools/logemit.o: tests/tools/logemit.c lib/sys/log.h
lib/sys/log.h:
