// A row of the user-information view for unit tests of the serving layer: every field set, any overridden.
import type { UserInformation } from '../../topology/user-information.js';

export function viewRow(userId: string, fields: Partial<UserInformation> = {}): UserInformation {
  return {
    userId,
    username: `user${userId}`,
    name: `User ${userId}`,
    description: '',
    location: '',
    webPageUrl: '',
    joinedDate: '2020-01-02',
    profileImageUrl: '',
    backgroundImageUrl: '',
    tweetCount: 0,
    followingCount: 0,
    followerCount: 0,
    likeCount: 0,
    updatedAt: 0,
    ...fields,
  };
}
