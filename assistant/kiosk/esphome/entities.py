"""The satellite's two entities, as ESPHome voice satellites expose them.

A media player (Home Assistant plays to it, announces through it, sets its volume) and a
switch that mutes the microphone. Their keys and object ids never change: Home Assistant
identifies entities by them across reconnects. No ``supported_formats`` are listed, so Home
Assistant hands over media URLs as they are and the kiosk decodes whatever PyAV reads.
"""

from __future__ import annotations

from dataclasses import dataclass

from aioesphomeapi import api_pb2 as pb
from google.protobuf.message import Message

MEDIA_PLAYER_KEY = 0x6D_70_6C_31  # "mpl1": fixed, Home Assistant keys entities by it
MUTE_KEY = 0x6D_75_74_31  # "mut1"
# Play, pause, stop, play media, volume set, volume mute, announce (MediaPlayerEntityFeature).
MEDIA_FEATURES = 16384 | 1 | 4096 | 512 | 4 | 8 | 1048576
VOLUME_STEP = 0.1


@dataclass
class MediaState:
    """What the media player entity shows, and what playback obeys."""

    playing: bool = False
    volume: float = 1.0  # 0..1, applied to everything the kiosk plays for Home Assistant
    muted: bool = False

    @property
    def gain(self) -> float:
        """The factor played samples are scaled by."""
        return 0.0 if self.muted else self.volume


def entity_list() -> list[Message]:
    """The ListEntities answers: the media player, then the mute switch."""
    player = pb.ListEntitiesMediaPlayerResponse(
        object_id="media_player",
        key=MEDIA_PLAYER_KEY,
        name="Media player",
        supports_pause=True,
        feature_flags=MEDIA_FEATURES,
    )
    mute = pb.ListEntitiesSwitchResponse(
        object_id="mute",
        key=MUTE_KEY,
        name="Mute microphone",
        icon="mdi:microphone-off",
        entity_category=1,  # config
    )
    return [player, mute]


def media_message(state: MediaState) -> Message:
    """The media player's whole state (each message replaces the last one)."""
    shown = pb.MEDIA_PLAYER_STATE_PLAYING if state.playing else pb.MEDIA_PLAYER_STATE_IDLE
    message: Message = pb.MediaPlayerStateResponse(
        key=MEDIA_PLAYER_KEY, state=shown, volume=state.volume, muted=state.muted
    )
    return message


def mute_message(muted: bool) -> Message:
    """The mute switch's state."""
    message: Message = pb.SwitchStateResponse(key=MUTE_KEY, state=muted)
    return message


def apply_volume(state: MediaState, command: pb.MediaPlayerCommandRequest) -> bool:
    """Apply a command's volume part (set, step, mute); whether it changed anything."""
    before = (state.volume, state.muted)
    if command.has_volume:
        state.volume = min(1.0, max(0.0, command.volume))
    if command.has_command:
        match command.command:
            case pb.MEDIA_PLAYER_COMMAND_MUTE:
                state.muted = True
            case pb.MEDIA_PLAYER_COMMAND_UNMUTE:
                state.muted = False
            case pb.MEDIA_PLAYER_COMMAND_VOLUME_UP:
                state.volume = min(1.0, state.volume + VOLUME_STEP)
            case pb.MEDIA_PLAYER_COMMAND_VOLUME_DOWN:
                state.volume = max(0.0, state.volume - VOLUME_STEP)
    return (state.volume, state.muted) != before


def stops_playback(command: pb.MediaPlayerCommandRequest) -> bool:
    """Whether the command ends what plays (stop, pause, turn off)."""
    ending = (
        pb.MEDIA_PLAYER_COMMAND_STOP,
        pb.MEDIA_PLAYER_COMMAND_PAUSE,
        pb.MEDIA_PLAYER_COMMAND_TURN_OFF,
        pb.MEDIA_PLAYER_COMMAND_CLEAR_PLAYLIST,
    )
    return command.has_command and command.command in ending
