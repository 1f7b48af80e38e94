build-wft/obj/lib/sys/log.o: lib/sys/log.c lib/sys/log.h
lib/sys/log.h:
